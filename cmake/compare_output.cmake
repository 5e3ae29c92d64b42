# compare_output.cmake - runs a program and compares its standard output with
# an expected file, ignoring line order (actors interleave their output).
#
#   cmake -DPROGRAM=<exe> -DEXPECTED=<file> [-DARGS=<a;b>] [-DWORKDIR=<dir>]
#         -P compare_output.cmake
#
# Both outputs are split into lines (a trailing newline and CR before LF are
# ignored), sorted, and compared as multisets. Fails if the program exits
# non-zero, is killed, or the sorted lines differ; on a mismatch it prints
# the lines missing from the output ("-") and the unexpected ones ("+"),
# then both outputs as they were.
cmake_minimum_required(VERSION 3.25)

foreach(_var PROGRAM EXPECTED)
	if(NOT DEFINED ${_var} OR "${${_var}}" STREQUAL "")
		message(FATAL_ERROR "compare_output.cmake: -D${_var}=... is "
			"required")
	endif()
endforeach()
if(NOT EXISTS "${EXPECTED}")
	message(FATAL_ERROR "compare_output.cmake: no such file: ${EXPECTED}")
endif()
if(NOT DEFINED WORKDIR OR "${WORKDIR}" STREQUAL "")
	get_filename_component(WORKDIR "${PROGRAM}" DIRECTORY)
endif()

execute_process(
	COMMAND "${PROGRAM}" ${ARGS}
	WORKING_DIRECTORY "${WORKDIR}"
	INPUT_FILE /dev/null
	OUTPUT_VARIABLE _actual
	ERROR_VARIABLE _stderr
	RESULT_VARIABLE _rc)

file(READ "${EXPECTED}" _expected)

# Lines become CMake list items. ';', '[' and ']' would confuse list
# handling, so they are swapped for ASCII control characters first (and
# back before printing); both sides get the same mapping, so equality and
# multiset differences are unchanged.
string(ASCII 28 _sc)
string(ASCII 29 _lb)
string(ASCII 30 _rb)
string(ASCII 31 _mk)

function(to_sorted_lines text out)
	string(REPLACE "\r\n" "\n" text "${text}")
	string(REGEX REPLACE "\n$" "" text "${text}")
	string(REPLACE ";" "${_sc}" text "${text}")
	string(REPLACE "[" "${_lb}" text "${text}")
	string(REPLACE "]" "${_rb}" text "${text}")
	if(text STREQUAL "")
		set(lines "")
	else()
		# Every item starts with a marker, so empty lines stay
		# (non-empty) list items.
		string(REPLACE "\n" ";${_mk}" lines "${_mk}${text}")
		list(SORT lines)
	endif()
	set(${out} "${lines}" PARENT_SCOPE)
endfunction()

function(restore item out)
	string(REPLACE "${_mk}" "" item "${item}")
	string(REPLACE "${_sc}" ";" item "${item}")
	string(REPLACE "${_lb}" "[" item "${item}")
	string(REPLACE "${_rb}" "]" item "${item}")
	set(${out} "${item}" PARENT_SCOPE)
endfunction()

to_sorted_lines("${_actual}" _act_lines)
to_sorted_lines("${_expected}" _exp_lines)

# Merge walk over the two sorted lists: "-" = expected but not printed,
# "+" = printed but not expected.
set(_report "")
set(_ndiff 0)
list(LENGTH _act_lines _na)
list(LENGTH _exp_lines _ne)
set(_i 0)
set(_j 0)
while(_i LESS _ne OR _j LESS _na)
	if(_i LESS _ne)
		list(GET _exp_lines ${_i} _e)
	endif()
	if(_j LESS _na)
		list(GET _act_lines ${_j} _a)
	endif()
	if(_i LESS _ne AND _j LESS _na AND _e STREQUAL _a)
		math(EXPR _i "${_i} + 1")
		math(EXPR _j "${_j} + 1")
	elseif(_j GREATER_EQUAL _na OR (_i LESS _ne AND _e STRLESS _a))
		restore("${_e}" _line)
		string(APPEND _report "- ${_line}\n")
		math(EXPR _i "${_i} + 1")
		math(EXPR _ndiff "${_ndiff} + 1")
	else()
		restore("${_a}" _line)
		string(APPEND _report "+ ${_line}\n")
		math(EXPR _j "${_j} + 1")
		math(EXPR _ndiff "${_ndiff} + 1")
	endif()
endwhile()

set(_failed FALSE)
if(NOT _rc STREQUAL "0")
	message("FAIL: ${PROGRAM} exited with '${_rc}' (expected 0)")
	set(_failed TRUE)
endif()
if(_ndiff GREATER 0)
	message("FAIL: sorted output of ${PROGRAM} differs from ${EXPECTED} "
		"in ${_ndiff} line(s) (${_ne} expected, ${_na} printed)\n"
		"--- expected (-) / +++ actual (+), sorted:\n${_report}")
	set(_failed TRUE)
endif()

if(_failed)
	message("---- stdout ----\n${_actual}---- stderr ----\n${_stderr}"
		"----------------")
	message(FATAL_ERROR "compare_output: ${PROGRAM} failed")
endif()

# Pass stderr through so warnings stay visible in the test log.
if(NOT _stderr STREQUAL "")
	message("${_stderr}")
endif()
message("OK: ${_na} line(s) match ${EXPECTED} (order ignored)")
