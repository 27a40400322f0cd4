#include "evax/pipeline/delivery_workers.h"

#include <algorithm>

#include "evax/pipeline/backoff.h"

namespace evax::pipeline {
namespace {

const std::string kHeatmapCarried = "not sent: the Secondary Capture carries the heatmap";

}  // namespace

struct DeliveryWorkers::Sender {
  std::map<std::int64_t, Clock::time_point> retry_at;  // deliveries waiting out their delay
  int unreachable_streak = 0;                          // association failures in a row
  Clock::time_point paused_until{};

  std::set<std::int64_t> held_back(Clock::time_point now) {
    std::set<std::int64_t> held;
    for (auto it = retry_at.begin(); it != retry_at.end();) {
      if (it->second > now) held.insert((it++)->first);
      else it = retry_at.erase(it);
    }
    return held;
  }
};

DeliveryWorkers::DeliveryWorkers(storage::StorageBackend& storage, DeliverySettings settings, const Clock& clock,
                                 logging::Logger& log, logging::AuditLog* audit, TransportFactory transports)
    : storage_(storage), settings_(std::move(settings)), clock_(clock), log_(log), audit_(audit),
      transports_(transports ? std::move(transports) : TransportFactory([scu = settings_.scu](const config::Destination& d) {
        return make_dicom_transport(scu, d);
      })) {}

DeliveryWorkers::~DeliveryWorkers() { stop(); }

void DeliveryWorkers::start() {
  for (const auto& destination : settings_.destinations) threads_.emplace_back([this, &destination] { run(destination); });
}

void DeliveryWorkers::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void DeliveryWorkers::wake() {
  {
    std::lock_guard lock(mutex_);
    ++wake_generation_;
  }
  wake_.notify_all();
}

std::chrono::seconds DeliveryWorkers::retry_delay(const config::DeliverySettings& settings, int attempt) {
  return capped_backoff(settings.retry_initial_s, settings.retry_max_s, attempt);
}

bool DeliveryWorkers::wait_until(Clock::time_point deadline, std::uint64_t seen_generation) {
  std::unique_lock lock(mutex_);
  // Polls the (substitutable) clock at most every second; a wake-up ends the wait early.
  while (!stopping_ && wake_generation_ == seen_generation && clock_.now() < deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_.now());
    wake_.wait_for(lock, std::clamp(left, std::chrono::milliseconds(1), std::chrono::milliseconds(1000)));
  }
  return !stopping_;
}

void DeliveryWorkers::run(const config::Destination& destination) {
  const logging::Fields where{{"destination", destination.name}};
  const auto transport = transports_(destination);
  if (!transport) {  // the config check refuses unknown kinds; this is the last line of defence
    log_.error("delivery", "no-transport", "nothing sends to this destination's kind", where);
    return;
  }
  std::unique_ptr<storage::Outbox> outbox;
  bool unrecorded = false;  // a batch's outcome did not reach the database
  Sender sender;
  for (;;) {
    std::uint64_t seen_generation;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      seen_generation = wake_generation_;
    }
    bool idle = true;
    try {
      if (!outbox) outbox = storage_.open_outbox();
      if (unrecorded) {
        // What this sender had claimed goes back to pending: objects already sent are sent again,
        // with the same SOP Instance UIDs (the PACS keeps one).
        outbox->requeue_sending_to(destination.name);
        unrecorded = false;
      }
      if (clock_.now() >= sender.paused_until) idle = !deliver(*outbox, destination, *transport, sender);
    } catch (const storage::LostClaim& e) {
      log_.warn("delivery", "claim-lost", "a delivery was taken over by another node", where);
    } catch (const std::exception& e) {
      // The database failed (or is unreachable): the batch in hand is queued again once it answers.
      log_.error("delivery", "bookkeeping-failed", e.what(), where);
      outbox.reset();
      unrecorded = true;
    }
    if (idle) {
      // Nothing due (or the destination is paused): sleep until the pause ends, a wake-up, or
      // the next poll for delays that came due.
      const auto deadline = std::max(sender.paused_until, clock_.now() + std::chrono::seconds(1));
      if (!wait_until(deadline, seen_generation)) return;
    }
  }
}

bool DeliveryWorkers::deliver(storage::Outbox& outbox, const config::Destination& destination, ObjectTransport& transport,
                              Sender& sender) {
  const auto now = clock_.now();
  auto claimed = outbox.claim_due(destination.name, sender.held_back(now), settings_.batch_size);
  if (claimed.empty()) return false;

  std::vector<storage::Delivery> batch;
  for (auto& delivery : claimed) {
    if (delivery.output.file_path.empty()) {
      outbox.record_dead(delivery.id, true, std::nullopt, "the result file was purged before it could be sent");
      continue;
    }
    batch.push_back(std::move(delivery));
  }
  if (batch.empty()) return true;
  // Each accepted object is recorded at once: a crash (a kill) mid-batch then sends again only
  // the object on the wire, not the ones the destination already has.
  std::vector<bool> recorded(batch.size(), false);
  const auto sent = transport.send(batch, [&](std::size_t k, const ObjectResult& result) {
    outbox.record_delivered_as(batch[k].id, result.status, result.detail, result.substitution);
    recorded[k] = true;
  });
  std::vector<ObjectResult> results = sent.objects;
  // A transport that answers for fewer objects than it was given: the rest are retried.
  results.resize(batch.size(), ObjectResult{TransportOutcome::retryable, std::nullopt, "no result from the transport"});

  // No response at all: the destination is unreachable; pause it as a whole.
  const bool unreachable = !sent.answered;
  sender.unreachable_streak = unreachable ? sender.unreachable_streak + 1 : 0;
  const auto pause = retry_delay(settings_.retry, sender.unreachable_streak);
  if (unreachable) sender.paused_until = clock_.now() + pause;

  int delivered = 0, retrying = 0, dead = 0, substituted = 0;
  for (std::size_t k = 0; k < results.size(); ++k) {
    const auto& delivery = batch[k];
    const auto& result = results[k];
    const logging::Fields fields{{"destination", destination.name}, {"delivery", std::to_string(delivery.id)},
                                 {"kind", delivery.output.kind}, {"attempt", std::to_string(delivery.attempts)}};
    if (audit_)
      audit_->record("send", transport.address(),
                     result.outcome == TransportOutcome::sent        ? "delivered"
                     : result.outcome == TransportOutcome::permanent ? "permanent-failure"
                                                                     : "retryable-failure",
                     {{"destination", destination.name}, {"sop_instance_uid", delivery.output.sop_instance_uid},
                      {"delivery", std::to_string(delivery.id)}, {"attempt", std::to_string(delivery.attempts)},
                      {"dimse_status", result.status ? std::to_string(*result.status) : ""}, {"detail", result.detail},
                      {"sent_sop_instance_uid", result.sent_sop_instance_uid}});
    if (result.outcome == TransportOutcome::sent) {
      if (!recorded[k]) outbox.record_delivered_as(delivery.id, result.status, result.detail, result.substitution);
      if (!result.substitution.empty()) log_.info("delivery", "substituted", result.substitution, fields);
      ++delivered;
    } else if (result.refused_sop_class && delivery.output.kind == "pmap" &&
               outbox.substitute_with(delivery.id, "sc", kHeatmapCarried + (": " + result.detail)) > 0) {
      // The Secondary Capture shows the same heatmap: it goes there instead (queued if it was not).
      log_.info("delivery", "substituted", kHeatmapCarried + (": " + result.detail), fields);
      ++substituted;
    } else if (result.outcome == TransportOutcome::permanent) {
      outbox.record_dead(delivery.id, true, result.status, result.detail);
      log_.error("delivery", "dead-lettered", "refused by the destination: " + result.detail, fields);
      ++dead;
    } else if (delivery.attempts >= settings_.retry.max_attempts ||
               delivery.age_seconds >= settings_.retry.max_age_h * 3600.0) {
      const std::string why =
          result.detail + (delivery.attempts >= settings_.retry.max_attempts
                               ? " (gave up after " + std::to_string(delivery.attempts) + " attempts)"
                               : " (gave up: undelivered for " + std::to_string(static_cast<long>(delivery.age_seconds / 3600)) +
                                     " h, " + std::to_string(delivery.attempts) + " attempts)");
      outbox.record_dead(delivery.id, false, result.status, why);
      log_.error("delivery", "dead-lettered", why, fields);
      ++dead;
    } else {
      const auto delay = retry_delay(settings_.retry, delivery.attempts);
      sender.retry_at[delivery.id] = clock_.now() + delay;
      outbox.record_retry(delivery.id, result.status, result.detail,
                          logging::iso_utc(std::chrono::system_clock::now() + delay));
      log_.debug("delivery", "retry-later", result.detail, fields);
      ++retrying;
    }
  }
  const logging::Fields summary{{"destination", destination.name}, {"delivered", std::to_string(delivered)},
                                {"retrying", std::to_string(retrying)}, {"dead_lettered", std::to_string(dead)},
                                {"substituted", std::to_string(substituted)}};
  if (unreachable)
    log_.warn("delivery", "destination-unreachable", results.empty() ? "" : results.front().detail,
              {{"destination", destination.name}, {"paused_s", std::to_string(pause.count())}});
  else
    log_.info("delivery", "batch-sent", "results sent", summary);
  return !unreachable;
}

}  // namespace evax::pipeline
