# FindJemalloc.cmake - jemalloc (https://jemalloc.net/).
#
# jemalloc ships a pkg-config file (jemalloc.pc) but no CMake package.
# Debian's build has no je_ prefix: linking it replaces malloc and free for
# the whole process.
#
# Result:
#   Jemalloc::Jemalloc  imported target (include dir, -ljemalloc)
#   Jemalloc_FOUND      TRUE if found
#   Jemalloc_VERSION    e.g. 5.3.0 (pkg-config says 5.3.0_0; the suffix
#                       is dropped)
#   Jemalloc_INCLUDE_DIRS, Jemalloc_LIBRARIES
include(FindPackageHandleStandardArgs)
find_package(PkgConfig QUIET)

if(PkgConfig_FOUND)
	pkg_check_modules(PC_Jemalloc QUIET jemalloc)
endif()

find_path(Jemalloc_INCLUDE_DIR NAMES jemalloc/jemalloc.h
	HINTS ${PC_Jemalloc_INCLUDEDIR} ${PC_Jemalloc_INCLUDE_DIRS})
# Jemalloc_STATIC: link the position-independent archive (Debian:
# libjemalloc_pic.a) instead of libjemalloc.so.2, whose dependencies
# (libstdc++ for its operator new, libm, libgcc_s) cost about 1 MiB of
# resident memory in every process.
if(Jemalloc_STATIC)
	find_library(Jemalloc_LIBRARY NAMES jemalloc_pic.a libjemalloc_pic.a
		HINTS ${PC_Jemalloc_LIBDIR} ${PC_Jemalloc_LIBRARY_DIRS})
else()
	find_library(Jemalloc_LIBRARY NAMES jemalloc
		HINTS ${PC_Jemalloc_LIBDIR} ${PC_Jemalloc_LIBRARY_DIRS})
endif()

set(Jemalloc_VERSION "")
if(PC_Jemalloc_VERSION MATCHES "^([0-9]+(\\.[0-9]+)*)")
	set(Jemalloc_VERSION "${CMAKE_MATCH_1}")
elseif(Jemalloc_INCLUDE_DIR AND
       EXISTS "${Jemalloc_INCLUDE_DIR}/jemalloc/jemalloc.h")
	file(STRINGS "${Jemalloc_INCLUDE_DIR}/jemalloc/jemalloc.h" _je_line
		REGEX "^#define[ \t]+JEMALLOC_VERSION[ \t]+\"[0-9.]+")
	if(_je_line MATCHES "\"([0-9]+(\\.[0-9]+)*)")
		set(Jemalloc_VERSION "${CMAKE_MATCH_1}")
	endif()
	unset(_je_line)
endif()

find_package_handle_standard_args(Jemalloc
	REQUIRED_VARS Jemalloc_LIBRARY Jemalloc_INCLUDE_DIR
	VERSION_VAR Jemalloc_VERSION)

if(Jemalloc_FOUND)
	set(Jemalloc_INCLUDE_DIRS "${Jemalloc_INCLUDE_DIR}")
	set(Jemalloc_LIBRARIES "${Jemalloc_LIBRARY}")
	if(NOT TARGET Jemalloc::Jemalloc)
		add_library(Jemalloc::Jemalloc UNKNOWN IMPORTED)
		set_target_properties(Jemalloc::Jemalloc PROPERTIES
			IMPORTED_LOCATION "${Jemalloc_LIBRARY}"
			INTERFACE_INCLUDE_DIRECTORIES "${Jemalloc_INCLUDE_DIR}")
		if(Jemalloc_STATIC)
			# What the archive's objects call (jemalloc.pc's
			# Libs.private: -lm -pthread -ldl).
			find_package(Threads REQUIRED)
			set_target_properties(Jemalloc::Jemalloc PROPERTIES
				INTERFACE_LINK_LIBRARIES
				"m;Threads::Threads;${CMAKE_DL_LIBS}")
		endif()
	endif()
endif()

mark_as_advanced(Jemalloc_INCLUDE_DIR Jemalloc_LIBRARY)
