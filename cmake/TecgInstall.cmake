# What `cmake --install` puts where (GNUInstallDirs: with the prefix /usr,
# as scripts/package builds, configuration goes to /etc/tecg):
#   bin/            every program installed with tecg_install_program()
#   lib/tecg/       the private librdkafka (RUNPATH $ORIGIN/../lib/tecg)
#   share/man/      the pages the programs write of themselves
#   etc/tecg/       *.conf.example, nations.csv (conffiles in the package)
#   lib/systemd/system, lib/sysusers.d, lib/tmpfiles.d   units and users
# scripts/package makes the .deb of exactly that tree.
include(GNUInstallDirs)

# Where the daemons look for their files when the configuration does not
# say (nations.file): the directory the install puts them in.
set(TECG_CONF_DIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}/tecg" CACHE PATH
    "Configuration directory compiled into the daemons' defaults")

# tecg_man_page(TARGET PAGE SECTION [ARGS...]): runs the built TARGET with
# ARGS (default --help-man) and installs what it prints as PAGE.SECTION.
function(tecg_man_page target page section)
  set(args "${ARGN}")
  if(NOT args)
    set(args --help-man)
  endif()
  set(out "${CMAKE_CURRENT_BINARY_DIR}/${page}.${section}")
  add_custom_command(OUTPUT "${out}"
    COMMAND ${CMAKE_COMMAND} "-DPROGRAM=$<TARGET_FILE:${target}>" "-DARGS=${args}"
            "-DOUT=${out}" "-DLIBRARY_PATH=${TECG_MAN_LIBRARY_PATH}"
            -P "${PROJECT_SOURCE_DIR}/cmake/run_to_file.cmake"
    DEPENDS ${target} "${PROJECT_SOURCE_DIR}/cmake/run_to_file.cmake"
    COMMENT "Writing ${page}(${section})" VERBATIM)
  add_custom_target(man-${page} ALL DEPENDS "${out}")
  install(FILES "${out}" DESTINATION "${CMAKE_INSTALL_MANDIR}/man${section}")
endfunction()

# tecg_install_program(TARGET SECTION): installs a program and its manual
# page, which it writes itself with --help-man (common/daemon.c for the
# daemons). One line per program in its folder's CMakeLists.txt.
function(tecg_install_program target section)
  install(TARGETS ${target} RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
  tecg_man_page(${target} ${target} ${section})
endfunction()
