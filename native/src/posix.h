// POSIX plumbing for ivshmem (and anything else that needs it): UNIX stream sockets with
// SCM_RIGHTS fd passing, shared-memory objects (memfd, shm_open, unlinked files), MAP_SHARED
// mappings exposed as external ArrayBuffers, blocking poll, and readiness callbacks on Node's
// own event loop (uv_poll). The typed contract is src/native/posix.ts.
#pragma once

#include <napi.h>

namespace cmemu {

// Adds the POSIX functions and the FdWatch class to the module's exports.
void RegisterPosix(Napi::Env env, Napi::Object exports);

}  // namespace cmemu
