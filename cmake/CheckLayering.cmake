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
# cmake -DSOURCE_DIR=<repo> -P cmake/CheckLayering.cmake
set(allowed_base base)
set(allowed_protocol protocol base ttmem)
set(allowed_ledger ledger protocol)
set(allowed_ttshm ttshm base protocol)
set(allowed_model model protocol ttshm)
set(allowed_client client base protocol ttmem)
set(allowed_daemon daemon base protocol ledger ttshm model)
set(allowed_cli cli base protocol ledger ttshm model)

set(allowed_sim sim ttmem protocol base ttshm)
set(allowed_integrations ttmem base)
set(internal base protocol ledger ttshm model client daemon cli sim)

set(broken "")
foreach(lib base protocol ledger ttshm model client daemon cli)
  file(GLOB files ${SOURCE_DIR}/src/${lib}/*.cc ${SOURCE_DIR}/src/${lib}/*.h)
  foreach(f ${files})
    file(STRINGS ${f} includes REGEX "^#include \"[a-z_]+/")
    foreach(line ${includes})
      string(REGEX REPLACE "^#include \"([a-z_]+)/.*" "\\1" dir "${line}")
      list(FIND allowed_${lib} ${dir} found)
      if(found EQUAL -1)
        file(RELATIVE_PATH rel ${SOURCE_DIR} ${f})
        string(APPEND broken "  ${rel}: ${line} (${lib} may include only: ${allowed_${lib}})\n")
      endif()
    endforeach()
  endforeach()
endforeach()
# sim/ and integrations/ (top level): as the libraries above.
foreach(dir sim integrations)
  file(GLOB files ${SOURCE_DIR}/${dir}/*.cc ${SOURCE_DIR}/${dir}/*.h)
  foreach(f ${files})
    file(STRINGS ${f} includes REGEX "^#include \"[a-z_]+/")
    foreach(line ${includes})
      string(REGEX REPLACE "^#include \"([a-z_]+)/.*" "\\1" inc "${line}")
      list(FIND allowed_${dir} ${inc} found)
      if(found EQUAL -1)
        file(RELATIVE_PATH rel ${SOURCE_DIR} ${f})
        string(APPEND broken "  ${rel}: ${line} (${dir}/ may include only: ${allowed_${dir}})\n")
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
if(broken)
  message(FATAL_ERROR "layering broken (cmake/CheckLayering.cmake says which library may use which):\n${broken}")
endif()
