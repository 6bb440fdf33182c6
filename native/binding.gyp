{
  "targets": [
    {
      "target_name": "cmemu",
      "sources": [
        "src/addon.cc",
        "src/cpu.cc",
        "src/run.cc",
        "src/memory.cc",
        "src/mpu.cc",
        "src/traps.cc",
        "src/idle.cc",
        "src/exit_check.cc",
        "src/align_check.cc",
        "src/debug.cc",
        "src/exceptions.cc",
        "src/trace.cc",
        "src/watcher.cc",
        "src/posix.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<(module_root_dir)/deps/unicorn/include"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_CPP_EXCEPTIONS_ALL",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags": ["-O3", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O3", "-fvisibility=hidden", "-fvisibility-inlines-hidden"],
      "libraries": [
        "<(module_root_dir)/deps/unicorn/lib/libunicorn.a",
        "-l:libcapstone.a",
        "-lpthread",
        "-lm",
        "-lrt",
        "-Wl,--exclude-libs,ALL",
        "-Wl,--no-relax",
        "-Wl,-z,pack-relative-relocs",
        "-Wl,--wrap=tlb_flush_arm",
        "-Wl,--wrap=helper_check_exit_request_arm",
        "-Wl,--wrap=tcg_region_reset_all_arm",
        "-Wl,--wrap=tb_gen_code_arm",
        "-Wl,--wrap=unicorn_fill_tlb_arm",
        "-Wl,--wrap=translator_loop_arm",
        "-Wl,--wrap=tcg_gen_qemu_ld_i32_arm",
        "-Wl,--wrap=tcg_gen_qemu_st_i32_arm",
        "-Wl,--wrap=tcg_gen_qemu_ld_i64_arm",
        "-Wl,--wrap=tcg_gen_qemu_st_i64_arm",
        "-Wl,--wrap=tcg_global_mem_new_internal_arm",
        "-Wl,--wrap=helper_v7m_msr_arm"
      ]
    }
  ]
}
