# Provides the imported targets arbalest::arrow, arbalest::arrow_compute,
# arbalest::arrow_flight and arbalest::parquet.
#
# A system Arrow (find_package(ArrowFlight)) wins when present. Otherwise the headers and
# shared libraries come from the pyarrow wheel pinned in python/requirements.txt, found by
# asking ARBALEST_PYTHON (default: the project's .venv). The wheel is built with the C++11
# ABI and links against Debian's g++ 12 without extra flags.

set(ARBALEST_PYTHON "${CMAKE_SOURCE_DIR}/.venv/bin/python" CACHE FILEPATH
    "Python whose pyarrow provides Arrow C++")

find_package(ArrowFlight CONFIG QUIET)
if(ArrowFlight_FOUND)
  find_package(Arrow CONFIG REQUIRED)
  find_package(ArrowCompute CONFIG QUIET)
  find_package(Parquet CONFIG REQUIRED)
  add_library(arbalest::arrow ALIAS Arrow::arrow_shared)
  add_library(arbalest::arrow_flight ALIAS ArrowFlight::arrow_flight_shared)
  add_library(arbalest::parquet ALIAS Parquet::parquet_shared)
  if(ArrowCompute_FOUND)
    add_library(arbalest::arrow_compute ALIAS ArrowCompute::arrow_compute_shared)
  else()
    add_library(arbalest::arrow_compute ALIAS Arrow::arrow_shared)
  endif()
  set(ARBALEST_ARROW_LIBDIR "")
  message(STATUS "Arrow: system install ${Arrow_VERSION}")
  return()
endif()

if(NOT EXISTS "${ARBALEST_PYTHON}")
  message(FATAL_ERROR "No system Arrow and no ${ARBALEST_PYTHON}: run scripts/bootstrap.sh")
endif()
execute_process(
  COMMAND "${ARBALEST_PYTHON}" -c
          "import pyarrow as pa; print(pa.get_include()); print(pa.get_library_dirs()[0]); print(pa.__version__)"
  OUTPUT_VARIABLE _pyarrow_out RESULT_VARIABLE _pyarrow_rc OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _pyarrow_rc EQUAL 0)
  message(FATAL_ERROR "pyarrow not importable from ${ARBALEST_PYTHON}: run scripts/bootstrap.sh")
endif()
string(REPLACE "\n" ";" _pyarrow_out "${_pyarrow_out}")
list(GET _pyarrow_out 0 ARBALEST_ARROW_INCLUDE)
list(GET _pyarrow_out 1 ARBALEST_ARROW_LIBDIR)
list(GET _pyarrow_out 2 ARBALEST_ARROW_VERSION)
# Shared-library soname suffix: pyarrow 26.0.1 ships libarrow.so.2600.
string(REGEX MATCH "^([0-9]+)\\.([0-9]+)" _ "${ARBALEST_ARROW_VERSION}")
math(EXPR _so_major "${CMAKE_MATCH_1} * 100 + ${CMAKE_MATCH_2}")
message(STATUS "Arrow: pyarrow ${ARBALEST_ARROW_VERSION} at ${ARBALEST_ARROW_LIBDIR}")

function(_arbalest_arrow_lib name file)
  set(_path "${ARBALEST_ARROW_LIBDIR}/${file}.so.${_so_major}")
  if(NOT EXISTS "${_path}")
    message(FATAL_ERROR "Missing ${_path}")
  endif()
  add_library(${name} SHARED IMPORTED GLOBAL)
  set_target_properties(${name} PROPERTIES IMPORTED_LOCATION "${_path}"
                        INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${ARBALEST_ARROW_INCLUDE}"
                        INTERFACE_INCLUDE_DIRECTORIES "${ARBALEST_ARROW_INCLUDE}")
endfunction()
_arbalest_arrow_lib(arbalest::arrow libarrow)
_arbalest_arrow_lib(arbalest::arrow_compute libarrow_compute)
_arbalest_arrow_lib(arbalest::arrow_flight libarrow_flight)
_arbalest_arrow_lib(arbalest::parquet libparquet)
# Binaries find the wheel's libraries at run time without LD_LIBRARY_PATH.
set(CMAKE_BUILD_RPATH "${ARBALEST_ARROW_LIBDIR}")
