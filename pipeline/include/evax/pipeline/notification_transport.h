// The outbox's transport for a RIS target (notifications[]): each delivery's file is one HL7
// message sent over MLLP or one FHIR Bundle, sent with the notifications module's clients.
#pragma once

#include <memory>

#include "evax/config/node_config.h"
#include "evax/pipeline/object_transport.h"

namespace evax::pipeline {

std::unique_ptr<ObjectTransport> make_notification_transport(const config::Notification& target);

}  // namespace evax::pipeline
