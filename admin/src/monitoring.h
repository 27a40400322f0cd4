// Watching the model in production (monitoring.*): the drift snapshot AdminApi::drift() reads
// from storage for /metrics and /readyz, and the /readyz check that names drifting findings.
// A drifting finding is a warning, never unready: the node still works as configured, and
// taking it out of a load balancer would stop analysis rather than flag the inputs.
// Internal to the admin module.
#pragma once

#include <chrono>
#include <string>

#include "drift.h"
#include "job_views.h"

namespace evax::admin {

// /readyz's "drift" check (made only with a baseline configured): ok is always true; warning is true when a finding drifts, and the
// detail names each with its PSI and KS.
json drift_check(const DriftSnapshot& drift);

// `days` before `now` as stored times are written (ISO 8601 UTC with milliseconds).
std::string days_before_iso(std::chrono::system_clock::time_point now, int days);

}  // namespace evax::admin
