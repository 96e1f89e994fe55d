# CheckLayering.cmake — run at every build (target `layering`, part of ALL): each library under
# src/ may include its own headers and those of the libraries it is declared to depend on, and no
# others. The rooms and their one-way flow are drawn in docs/architecture.md.
#
#   base      — kernel handles, sockets, text, clocks, mappings: depends on nothing
#   protocol  — wire and shared-memory formats, frames: base and the public C header (its types)
#   ledger    — the pure accounting: protocol (the memory-type table)
#   ttshm     — tt-metal's statistics regions: base, protocol
#   model     — the status document as a typed model, its JSON: protocol, ttshm
#   client    — libttmem: base, protocol and its public header (ttmem/)
#   daemon    — ttmemd: base, protocol, ledger, ttshm, model
#   cli       — ttmem: base, protocol, ledger, ttshm, model
#
# Outside src/ (issue 27):
#   sim/            — the simulated runtime: the public C header (it reports like an application),
#                     protocol (the memory-type table), base (byte formatting) and ttshm (the
#                     tt-metal statistics format it publishes); never the daemon, cli or model
#   integrations/   — the adapter tt-metal embeds: the public C header, and base for the
#                     header-only lock annotations (base/thread_annotations.h)
#   integrations/*/ — the shells built against a runtime: its headers and the adapter's, never
#                     one of ttmem's internal libraries
#
# The lists themselves are in cmake/Boundaries.cmake, with each library's public headers: the
# others (and sim/, tests/, bench/, fuzz/) may include only those. And JSON is the model's: no
# file of the CLI includes nlohmann.
#
# cmake -DSOURCE_DIR=<repo> -P cmake/CheckLayering.cmake
include(${CMAKE_CURRENT_LIST_DIR}/Boundaries.cmake)

set(broken "")
# Each library under src/, and sim/ and integrations/ (top level): only what it may use.
foreach(room base protocol ledger ttshm model client daemon cli sim integrations)
  if(room STREQUAL "sim" OR room STREQUAL "integrations")
    set(where ${SOURCE_DIR}/${room})
    set(label "${room}/")
  else()
    set(where ${SOURCE_DIR}/src/${room})
    set(label ${room})
  endif()
  file(GLOB files ${where}/*.cc ${where}/*.h)
  foreach(f ${files})
    file(STRINGS ${f} includes REGEX "^#include \"[a-z_]+/")
    foreach(line ${includes})
      string(REGEX REPLACE "^#include \"([a-z_]+)/.*" "\\1" inc "${line}")
      list(FIND allowed_${room} ${inc} found)
      if(found EQUAL -1)
        file(RELATIVE_PATH rel ${SOURCE_DIR} ${f})
        string(APPEND broken "  ${rel}: ${line} (${label} may include only: ${allowed_${room}})\n")
      endif()
    endforeach()
  endforeach()
endforeach()
# The shells under integrations/*/: anything of the runtime's, nothing internal to ttmem.
file(GLOB shells ${SOURCE_DIR}/integrations/*/*.cc ${SOURCE_DIR}/integrations/*/*.cpp
     ${SOURCE_DIR}/integrations/*/*.h)
foreach(f ${shells})
  file(STRINGS ${f} includes REGEX "^#include \"[a-z_]+/")
  foreach(line ${includes})
    string(REGEX REPLACE "^#include \"([a-z_]+)/.*" "\\1" inc "${line}")
    list(FIND internal ${inc} found)
    if(NOT found EQUAL -1)
      file(RELATIVE_PATH rel ${SOURCE_DIR} ${f})
      string(APPEND broken "  ${rel}: ${line} (a shell may not include ttmem's internal ${inc}/)\n")
    endif()
  endforeach()
endforeach()
# A library's private headers are its own: another library, sim/, tests/ or bench/ may include
# only the public ones (public_* in Boundaries.cmake).
file(GLOB_RECURSE everything ${SOURCE_DIR}/src/*.cc ${SOURCE_DIR}/src/*.h ${SOURCE_DIR}/sim/*.cc
     ${SOURCE_DIR}/sim/*.h ${SOURCE_DIR}/tests/*.cc ${SOURCE_DIR}/tests/*.h ${SOURCE_DIR}/bench/*.cc
     ${SOURCE_DIR}/integrations/*.cc ${SOURCE_DIR}/integrations/*.h ${SOURCE_DIR}/fuzz/*.cc)
foreach(f ${everything})
  file(RELATIVE_PATH rel ${SOURCE_DIR} ${f})
  set(own "")
  if(rel MATCHES "^src/([a-z_]+)/")
    set(own ${CMAKE_MATCH_1})
  endif()
  file(STRINGS ${f} includes REGEX "^#include \"[a-z_]+/[a-z_0-9]+\\.h\"")
  foreach(line ${includes})
    string(REGEX REPLACE "^#include \"([a-z_]+)/([a-z_0-9]+\\.h)\".*" "\\1;\\2" parts "${line}")
    list(GET parts 0 lib)
    list(GET parts 1 header)
    if(lib STREQUAL own OR NOT DEFINED public_${lib})
      continue()
    endif()
    list(FIND public_${lib} ${header} found)
    if(found EQUAL -1)
      string(REPLACE ";" ", " exposed "${public_${lib}}")
      string(APPEND broken "  ${rel}: ${line} (private to ${lib}/; it exposes: ${exposed})\n")
    endif()
  endforeach()
endforeach()
# JSON is the model's (issue 27): the CLI builds and reads documents through model/.
file(GLOB cli_files ${SOURCE_DIR}/src/cli/*.cc ${SOURCE_DIR}/src/cli/*.h)
foreach(f ${cli_files})
  file(STRINGS ${f} includes REGEX "^#include <nlohmann/")
  foreach(line ${includes})
    file(RELATIVE_PATH rel ${SOURCE_DIR} ${f})
    string(APPEND broken "  ${rel}: ${line} (the CLI reads and writes JSON through model/)\n")
  endforeach()
endforeach()
if(broken)
  message(FATAL_ERROR "layering broken (cmake/CheckLayering.cmake says which library may use which):\n${broken}")
endif()
