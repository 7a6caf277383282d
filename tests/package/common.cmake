# What the packaging tests (install.cmake, deb.cmake) share: checking their -D arguments and
# running a step that must succeed.

# Fails unless every variable named is defined (given with -D).
function(require_arguments script)
  foreach(var ${ARGN})
    if(NOT DEFINED ${var})
      message(FATAL_ERROR "${script} needs -D${var}=...")
    endif()
  endforeach()
endfunction()

# Runs the command after `what`; fails with its output unless it exits 0. Its standard output
# is left in `last_output`.
function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT code EQUAL 0)
    message(FATAL_ERROR "${what} failed (${code}):\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()
