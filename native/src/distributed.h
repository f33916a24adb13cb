// Data-parallel collectives for the stemscope addon: libtorch's own c10d process group (Gloo over
// TCP, a TCPStore rendezvous hosted by rank 0) with bucketed all-reduce, broadcast and barrier run
// off the JS thread, a heartbeat through the store so that a failed collective names the lost rank,
// and a few store operations for exchanging small JSON between ranks. No model logic.
#pragma once

#include <napi.h>

namespace stemscope {

// Registers processGroupCreate (→ Promise<ProcessGroup>) and the ProcessGroup class on `exports`.
void RegisterDistributed(Napi::Env env, Napi::Object exports);

}  // namespace stemscope
