# FindCK.cmake - Concurrency Kit (https://github.com/concurrencykit/ck).
#
# ck ships a pkg-config file (ck.pc) but no CMake package. Its Cflags carry
# -D__x86_64__ (the architecture ck was configured for); it is identical to
# the compiler's own definition and harmless.
#
# Result:
#   CK::CK            imported target (include dirs, compile options, -lck)
#   CK_FOUND          TRUE if found
#   CK_VERSION        e.g. 0.7.1
#   CK_INCLUDE_DIRS, CK_LIBRARIES
#
# Headers are installed flat (<ck_epoch.h>, not <ck/ck_epoch.h>).
include(FindPackageHandleStandardArgs)
find_package(PkgConfig QUIET)

if(PkgConfig_FOUND)
	pkg_check_modules(PC_CK QUIET ck)
endif()

find_path(CK_INCLUDE_DIR NAMES ck_epoch.h
	HINTS ${PC_CK_INCLUDEDIR} ${PC_CK_INCLUDE_DIRS})
find_library(CK_LIBRARY NAMES ck
	HINTS ${PC_CK_LIBDIR} ${PC_CK_LIBRARY_DIRS})

if(PC_CK_VERSION)
	set(CK_VERSION "${PC_CK_VERSION}")
elseif(CK_INCLUDE_DIR AND EXISTS "${CK_INCLUDE_DIR}/ck_md.h")
	file(STRINGS "${CK_INCLUDE_DIR}/ck_md.h" _ck_version_line
		REGEX "^#define[ \t]+CK_VERSION[ \t]+\"[^\"]*\"")
	if(_ck_version_line MATCHES "\"([^\"]*)\"")
		set(CK_VERSION "${CMAKE_MATCH_1}")
	endif()
	unset(_ck_version_line)
endif()

find_package_handle_standard_args(CK
	REQUIRED_VARS CK_LIBRARY CK_INCLUDE_DIR
	VERSION_VAR CK_VERSION)

if(CK_FOUND)
	set(CK_INCLUDE_DIRS "${CK_INCLUDE_DIR}")
	set(CK_LIBRARIES "${CK_LIBRARY}")
	if(NOT TARGET CK::CK)
		add_library(CK::CK UNKNOWN IMPORTED)
		set_target_properties(CK::CK PROPERTIES
			IMPORTED_LOCATION "${CK_LIBRARY}"
			INTERFACE_INCLUDE_DIRECTORIES "${CK_INCLUDE_DIR}")
		# Definitions from ck.pc (-D__x86_64__); -I flags are
		# covered by the include directory above.
		set(_ck_defs "")
		foreach(_flag IN LISTS PC_CK_CFLAGS_OTHER)
			if(_flag MATCHES "^-D(.+)$")
				list(APPEND _ck_defs "${CMAKE_MATCH_1}")
			endif()
		endforeach()
		if(_ck_defs)
			set_target_properties(CK::CK PROPERTIES
				INTERFACE_COMPILE_DEFINITIONS "${_ck_defs}")
		endif()
		unset(_ck_defs)
		unset(_flag)
	endif()
endif()

mark_as_advanced(CK_INCLUDE_DIR CK_LIBRARY)
