# tests/api/shared_symbols.cmake - what libtroupe.so shows the process.
#
#   cmake -DNM=<nm> -DLIB=<libtroupe.so> -P shared_symbols.cmake
#
# 1. It exports trp_* functions and nothing else: no jemalloc (mallocx,
#    mallctl, ...), no ck, no trp__ internals.
# 2. It defines none of the C library's allocation functions, exported or
#    not: a private malloc or free inside the .so would be what core/'s
#    free() binds to (trp_send_owned's default free, issue 10), while the
#    application's malloc() is the process's. Its free() must be undefined,
#    left to the dynamic linker.
foreach(var NM LIB)
	if(NOT ${var})
		message(FATAL_ERROR "shared_symbols: -D${var}= is required")
	endif()
endforeach()

function(run_nm out)
	execute_process(COMMAND "${NM}" ${ARGN} "${LIB}"
		OUTPUT_VARIABLE text
		ERROR_VARIABLE err
		RESULT_VARIABLE rc)
	if(NOT rc EQUAL 0)
		message(FATAL_ERROR "${NM} ${ARGN} ${LIB} failed (${rc}): ${err}")
	endif()
	string(REPLACE "\n" ";" lines "${text}")
	set(${out} "${lines}" PARENT_SCOPE)
endfunction()

set(failures "")

# 1. Dynamic exports: "<address> <type> <name>[@version]".
run_nm(dyn -D --defined-only)
set(exported 0)
foreach(line IN LISTS dyn)
	if(NOT line MATCHES "^[0-9a-fA-F]+ ([A-Za-z]) ([^ @]+)")
		continue()
	endif()
	set(name "${CMAKE_MATCH_2}")
	if(name MATCHES "^trp_[a-z]" AND NOT name MATCHES "^trp__")
		math(EXPR exported "${exported} + 1")
	else()
		list(APPEND failures "exported: ${name}")
	endif()
endforeach()
if(exported EQUAL 0)
	list(APPEND failures "no trp_* symbol exported")
endif()

# 2. The full symbol table (local symbols too): no allocator entry point.
set(alloc_names malloc calloc realloc free posix_memalign aligned_alloc
	memalign valloc pvalloc malloc_usable_size)
list(JOIN alloc_names "|" alloc_re)
run_nm(all)
set(free_undefined FALSE)
set(any_trp FALSE)
foreach(line IN LISTS all)
	if(line MATCHES " [Tt] trp_")
		set(any_trp TRUE)
	endif()
	if(line MATCHES "^ +U (${alloc_re})(@.*)?$")
		if(CMAKE_MATCH_1 STREQUAL "free")
			set(free_undefined TRUE)
		endif()
	elseif(line MATCHES "^[0-9a-fA-F]+ [A-Za-z] (${alloc_re})(@.*)?$")
		list(APPEND failures "defines ${CMAKE_MATCH_1}: ${line}")
	endif()
endforeach()
if(NOT any_trp)
	list(APPEND failures "no symbol table (stripped?): cannot check")
elseif(NOT free_undefined)
	list(APPEND failures "free is not an undefined (dynamic) symbol")
endif()

if(failures)
	list(JOIN failures "\n  " text)
	message(FATAL_ERROR "${LIB}:\n  ${text}")
endif()
message(STATUS "${LIB}: ${exported} trp_* exports, free() left to the "
	"dynamic linker")
