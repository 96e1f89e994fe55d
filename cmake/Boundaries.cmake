# Boundaries.cmake — which library may use which, and what each exposes (issue 27). Read by the
# layering check (cmake/CheckLayering.cmake, at every build) and by each library's CMakeLists
# (its public headers as a FILE_SET). The rooms and their one-way flow: docs/architecture.md.
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


# What each library exposes to the others, and to sim/, tests/ and bench/: its public headers.
# Every other header of a library is its own (ledger/live_table.h, model/tolerant_json.h, …).
set(public_base bytes.h clock.h container.h mapping.h socket.h text.h thread_annotations.h
    unique_fd.h user.h)
set(public_protocol frames.h mem_types.h paths.h shm_abi.h wire.h)
set(public_ledger ledger.h)
set(public_ttshm tt_shm.h)
set(public_model status.h status_json.h from_tt_shm.h replies.h snapshot.h notices.h requests.h
    report.h pick.h)
set(public_client)  # libttmem's interface is include/ttmem/ttmem.h
set(public_daemon fragmentation.h state_file.h status_builder.h  # measured by bench/, tests/
    session.h)  # fuzzed by fuzz/region_fuzz.cc
set(public_cli query.h)  # bench/ asks the daemon through it

# A library's public headers as its PUBLIC header set: what it exposes, declared with the build
# (IDEs and `cmake --build --target all_verify_interface_header_sets` see them).
function(ttmem_public_headers target lib)
  list(TRANSFORM public_${lib} PREPEND ${PROJECT_SOURCE_DIR}/src/${lib}/ OUTPUT_VARIABLE files)
  if(files)
    target_sources(${target} PUBLIC FILE_SET HEADERS BASE_DIRS ${PROJECT_SOURCE_DIR}/src
                   FILES ${files})
  endif()
endfunction()
