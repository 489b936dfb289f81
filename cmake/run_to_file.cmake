# Runs PROGRAM with ARGS and writes its standard output to OUT, failing
# the build when it fails or prints nothing (a page must never be empty).
# LIBRARY_PATH, when set, is where the private librdkafka lives for a
# binary whose RUNPATH names only its installed place.
# Usage: cmake -DPROGRAM=... -DARGS=... -DOUT=... [-DLIBRARY_PATH=...] -P run_to_file.cmake
if(LIBRARY_PATH)
  set(ENV{LD_LIBRARY_PATH} "${LIBRARY_PATH}")
endif()
separate_arguments(args UNIX_COMMAND "${ARGS}")
execute_process(COMMAND "${PROGRAM}" ${args}
  OUTPUT_FILE "${OUT}.tmp" RESULT_VARIABLE rc ERROR_VARIABLE err)
file(SIZE "${OUT}.tmp" size)
if(NOT rc EQUAL 0 OR size EQUAL 0)
  file(REMOVE "${OUT}.tmp")
  message(FATAL_ERROR "${PROGRAM} ${ARGS}: exit ${rc}, ${size} bytes: ${err}")
endif()
file(RENAME "${OUT}.tmp" "${OUT}")
