# Generates a C file holding every schemas/ *.avsc as a string, so the schemas
# in the source tree stay the single source of truth (docs/design.md §3).
# Usage: cmake -DSCHEMA_DIR=... -DOUT=... -P embed_schemas.cmake
file(GLOB avsc_files "${SCHEMA_DIR}/*.avsc")
list(SORT avsc_files)
set(body "/* Generated from schemas/ *.avsc by cmake/embed_schemas.cmake. Do not edit. */\n#include \"schemas.h\"\n\n")
set(table "const tecg_schema_source_t tecg_schema_sources[] = {\n")
set(i 0)
foreach(f IN LISTS avsc_files)
  get_filename_component(name "${f}" NAME_WE)
  file(READ "${f}" hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(APPEND body "static const char schema_${i}[] = {${hex} 0x00};\n")
  string(APPEND table "        {\"${name}\", schema_${i}, sizeof(schema_${i}) - 1},\n")
  math(EXPR i "${i} + 1")
endforeach()
string(APPEND table "};\nconst size_t tecg_schema_source_count = ${i};\n")
file(WRITE "${OUT}.tmp" "${body}\n${table}")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
