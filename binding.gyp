{
  "targets": [
    {
      "target_name": "sat_native",
      "sources": ["native/addon.cc", "native/layer_bindings.cc", "native/decoder.cc", "native/init_state.cc", "native/embedding.cc", "native/attention.cc", "native/lstm.cc", "native/output.cc", "native/optim.cc", "native/kernels.cc", "native/packed_gemm.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "/usr/include/x86_64-linux-gnu", "/usr/include/openblas"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=fast", "-Wall", "-Wno-unused-parameter"],
      "libraries": ["-lopenblas", "-fopenmp"]
    }
  ]
}
