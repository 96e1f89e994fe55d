# Installs the build into a scratch prefix and builds two consumers against it: one with
# find_package(ttmem), one with pkg-config. Fails on any missing piece of the install.
file(REMOVE_RECURSE ${WORK})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD} --prefix ${WORK}/prefix
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(rc)
  message(FATAL_ERROR "cmake --install failed")
endif()
foreach(f bin/ttmemd bin/ttmem include/ttmem/ttmem.h lib/libttmem.so lib/libttmem.a
          lib/cmake/ttmem/ttmemConfig.cmake lib/pkgconfig/ttmem.pc
          lib/python3/dist-packages/ttmem/__init__.py
          lib/python3/dist-packages/ttmem-${VERSION}.dist-info/entry_points.txt
          lib/systemd/system/ttmemd.service share/ttmem/grafana/ttmem.json
          share/ttmem/prometheus/ttmem-alerts.yml)
  if(NOT EXISTS ${WORK}/prefix/${f})
    message(FATAL_ERROR "install is missing ${f}")
  endif()
endforeach()
file(MAKE_DIRECTORY ${WORK}/consumer)
file(WRITE ${WORK}/consumer/main.c "#include <ttmem/ttmem.h>\nint main(void){ttmem_alloc(0,TTMEM_DRAM,1,0,1);ttmem_free(0,1);return ttmem_enabled();}\n")
file(WRITE ${WORK}/consumer/CMakeLists.txt "cmake_minimum_required(VERSION 3.25)\nproject(consumer C CXX)\nfind_package(ttmem REQUIRED)\nadd_executable(c main.c)\ntarget_link_libraries(c PRIVATE ttmem::ttmem)\nadd_executable(cs main.c)\ntarget_link_libraries(cs PRIVATE ttmem::ttmem_static)\nset_target_properties(cs PROPERTIES LINKER_LANGUAGE CXX)\n")
execute_process(COMMAND ${CMAKE_COMMAND} -S ${WORK}/consumer -B ${WORK}/consumer/build
                -DCMAKE_PREFIX_PATH=${WORK}/prefix RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "find_package(ttmem) consumer failed to configure")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK}/consumer/build RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "find_package(ttmem) consumer failed to build")
endif()
execute_process(COMMAND ${WORK}/consumer/build/c RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "consumer returned ${rc} (tracking should be off)")
endif()
set(ENV{PKG_CONFIG_PATH} ${WORK}/prefix/lib/pkgconfig)
execute_process(COMMAND pkg-config --cflags --libs ttmem
                OUTPUT_VARIABLE flags OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "pkg-config does not know ttmem")
endif()
separate_arguments(flags UNIX_COMMAND "${flags}")
execute_process(COMMAND cc ${WORK}/consumer/main.c ${flags} -o ${WORK}/consumer/pc
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "pkg-config consumer failed to build with: ${flags}")
endif()
set(ENV{LD_LIBRARY_PATH} ${WORK}/prefix/lib)
execute_process(COMMAND ${WORK}/consumer/pc RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pkg-config consumer returned ${rc}")
endif()
message(STATUS "install, find_package(ttmem) and pkg-config consumers ok")
