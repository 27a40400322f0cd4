// The records' names for their states, the same in every backend.
#include "evax/storage/records.h"

#include <algorithm>
#include <cstdio>

#include "delivery_status.h"

namespace evax::storage {

std::string_view job_state_name(JobState state) {
  switch (state) {
    case JobState::queued: return "queued";
    case JobState::running: return "running";
    case JobState::done: return "done";
    case JobState::skipped: return "skipped";
    case JobState::failed: return "failed";
  }
  return "failed";
}

std::optional<JobState> parse_job_state(std::string_view name) {
  for (JobState s : {JobState::queued, JobState::running, JobState::done, JobState::skipped, JobState::failed})
    if (job_state_name(s) == name) return s;
  return std::nullopt;
}

std::string_view priority_name(Priority priority) {
  switch (priority) {
    case Priority::routine: return "routine";
    case Priority::high: return "high";
    case Priority::stat: return "stat";
  }
  return "routine";
}

std::optional<Priority> parse_priority(std::string_view name) {
  for (Priority p : {Priority::routine, Priority::high, Priority::stat})
    if (priority_name(p) == name) return p;
  return std::nullopt;
}

std::string_view delivery_state_name(DeliveryState state) {
  switch (state) {
    case DeliveryState::pending: return "pending";
    case DeliveryState::sending: return "sending";
    case DeliveryState::delivered: return "delivered";
    case DeliveryState::dead: return "dead";
  }
  return "dead";
}

std::optional<DeliveryState> parse_delivery_state(std::string_view name) {
  for (auto s : {DeliveryState::pending, DeliveryState::sending, DeliveryState::delivered, DeliveryState::dead})
    if (delivery_state_name(s) == name) return s;
  return std::nullopt;
}

bool DeliveryRoute::takes(const std::string& kind) const {
  return kinds.empty() || std::find(kinds.begin(), kinds.end(), kind) != kinds.end();
}

std::string attempt_status_text(std::optional<int> dimse_status, const std::string& detail) {
  if (!dimse_status) return detail;
  char hex[16];
  std::snprintf(hex, sizeof hex, "0x%04X", static_cast<unsigned>(*dimse_status));
  return detail.empty() ? std::string(hex) : std::string(hex) + " " + detail;
}

}  // namespace evax::storage
