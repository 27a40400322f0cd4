// The outbox's STOW-RS transport (destinations[].kind "dicomweb"): a claimed batch is split by
// study, one STOW-RS request per study (StowClient), in the batch's order. When a request gets no
// answer at all the rest of the batch is not tried (the outbox pauses the destination). Used by
// one sender thread.
#pragma once

#include <memory>

#include "evax/config/node_config.h"
#include "evax/pipeline/object_transport.h"

namespace evax::dicomweb {

std::unique_ptr<pipeline::ObjectTransport> make_stow_transport(const config::Destination& destination, int connect_timeout_s);

}  // namespace evax::dicomweb
