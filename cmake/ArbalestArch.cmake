# The baseline instruction set every object file is compiled for. Portable by default: x86-64
# (any 64-bit x86 CPU, what Debian targets) and armv8-a on aarch64; the SIMD kernels
# (src/simd) are compiled for every Highway target and picked at runtime (AVX2, AVX-512, NEON,
# SVE...), and CRC32C checks for SSE4.2 at runtime, so a wider baseline buys little.
# A build for one machine only: -DARBALEST_ARCH_FLAGS=-march=native.
function(arbalest_default_arch_flags processor out)
  if(processor MATCHES "^(x86_64|AMD64|amd64)$")
    set(${out} "-march=x86-64;-mtune=generic" PARENT_SCOPE)
  elseif(processor MATCHES "^(aarch64|arm64|ARM64)$")
    set(${out} "-march=armv8-a" PARENT_SCOPE)
  else()
    set(${out} "" PARENT_SCOPE)
  endif()
endfunction()
