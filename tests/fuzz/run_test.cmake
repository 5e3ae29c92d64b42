# tests/fuzz/run_test.cmake - the ctest fuzz.node_wire.run: a short,
# bounded libFuzzer run on a copy of the committed corpus.
#
#   cmake -DFUZZER=<binary> -DCORPUS=<dir> -DWORK=<dir> -P run_test.cmake
#
# WORK is wiped and gets corpus/ (the copy libFuzzer adds to: the source
# tree is never written) and any crash-*/leak-*/timeout-* artifact. A
# finding fails the test; the artifact's path is in the output (see
# tests/fuzz/run.sh for what to do with it).
foreach(var FUZZER CORPUS WORK)
	if(NOT DEFINED ${var})
		message(FATAL_ERROR "run_test.cmake: -D${var}=... missing")
	endif()
endforeach()
if(NOT IS_DIRECTORY "${CORPUS}")
	message(FATAL_ERROR "run_test.cmake: no corpus ${CORPUS}")
endif()

file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
file(COPY "${CORPUS}/" DESTINATION "${WORK}/corpus")

execute_process(
	COMMAND "${FUZZER}" -max_total_time=20 -rss_limit_mb=1024
		-timeout=10 -print_final_stats=1
		"-artifact_prefix=${WORK}/" "${WORK}/corpus"
	WORKING_DIRECTORY "${WORK}"
	RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
	message(FATAL_ERROR "libFuzzer exited with ${rc}; artifacts in ${WORK}")
endif()
