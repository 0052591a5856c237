#include "provbridge/consumers/worker.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <iterator>
#include <limits>
#include <set>

namespace provbridge::consumers {

ProcessResult RecordHandler::handle_failure(const InboundRecord& record, std::string_view what) {
    ProcessResult result;
    result.status = ProcessResult::Status::Fatal;
    result.fatal_reason = "record " + record.topic + "[" + std::to_string(record.partition) + "]@" +
                          std::to_string(record.offset) + " could not be handled: " + std::string(what);
    return result;
}

ProcessResult RecordHandler::handle_parked(const ClaimedHead& head) {
    ProcessResult result;
    result.status = ProcessResult::Status::Fatal;
    result.fatal_reason = "a due retry of " + head.event.app + "/" + std::string(to_string(head.event.object_type)) +
                          "/" + head.event.object_id + " cannot run: this worker's handler does not run retries";
    return result;
}

ProcessResult RecordHandler::handle_parked_failure(const ClaimedHead& head, std::string_view what) {
    ProcessResult result = handle_failure(head.event.record, what);
    if (result.status != ProcessResult::Status::Fatal) {
        // handle_failure recorded the record without the lease, leaving the head in its queue.
        result.status = ProcessResult::Status::Fatal;
        result.fatal_reason = "a due retry threw (" + std::string(what) + ") and the handler cannot record it";
    }
    return result;
}

namespace {

std::string describe_exception(std::exception_ptr thrown) {
    try {
        std::rethrow_exception(std::move(thrown));
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
        return "an exception that is not a std::exception";
    }
}

}  // namespace

// One thread working through a FIFO queue: all records of one object in memory sit on the same
// lane, so per-object order is the partition order.
class Worker::Lane {
public:
    Lane(Worker& worker, std::unique_ptr<RecordHandler> handler)
        : worker_(worker), handler_(std::move(handler)), thread_([this] { loop(); }) {}

    ~Lane() {
        {
            std::lock_guard lock(mutex_);
            closing_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable()) thread_.join();
    }

    // `key` is the object's placement (empty: not tracked); `held`: park it unrun.
    void push(InboundRecord record, OffsetTracker::Epoch epoch, std::string key, bool held) {
        {
            std::lock_guard lock(mutex_);
            queue_.push_back(
                Queued{std::move(record), epoch, std::nullopt, std::move(key), held, std::chrono::steady_clock::now()});
        }
        cv_.notify_one();
    }

    // A claimed retry goes first: its lease runs from the claim, so it must not wait behind a
    // backlog of consumed records. Order holds: a consumed record of the same object queued here
    // came after the head was parked, and parks behind it when it runs.
    void push(ClaimedHead head, std::string key) {
        {
            std::lock_guard lock(mutex_);
            queue_.push_front(Queued{{}, 0, std::move(head), std::move(key), false, std::chrono::steady_clock::now()});
        }
        cv_.notify_one();
    }

    // Takes out the queued (not started) records of these partitions and returns their keys:
    // they were revoked, and their new owner will consume them from the uncommitted offsets.
    std::vector<std::string> drop(const std::set<TopicPartition>& partitions) {
        std::lock_guard lock(mutex_);
        // Claimed retries belong to no partition: they stay (their lease is this worker's).
        const auto kept = std::stable_partition(queue_.begin(), queue_.end(), [&](const Queued& q) {
            return q.head || partitions.count(TopicPartition{q.record.topic, q.record.partition}) == 0;
        });
        std::vector<std::string> keys;
        for (auto it = kept; it != queue_.end(); ++it) keys.push_back(std::move(it->key));
        queue_.erase(kept, queue_.end());
        return keys;
    }

    struct Evicted {
        InboundRecord record;
        OffsetTracker::Epoch epoch = 0;
        std::string key;
    };
    // Takes out the queued records of objects that have nothing running or claimed here: all
    // of such an object's records in memory are on this lane, so they leave together, in order.
    std::vector<Evicted> evict() {
        std::lock_guard lock(mutex_);
        std::set<std::string> staying;
        if (!running_key_.empty()) staying.insert(running_key_);
        for (const auto& q : queue_) {
            if (q.head || q.held) staying.insert(q.key);
        }
        std::vector<Evicted> out;
        std::deque<Queued> kept;
        for (auto& q : queue_) {
            if (!q.head && !q.held && !q.key.empty() && staying.count(q.key) == 0) {
                out.push_back(Evicted{std::move(q.record), q.epoch, std::move(q.key)});
            } else {
                kept.push_back(std::move(q));
            }
        }
        queue_.swap(kept);
        return out;
    }

    // How long items take here: the moving mean of the finished ones, or, while none has
    // finished, how long the current one has run so far.
    std::optional<double> item_ms(std::chrono::steady_clock::time_point now) {
        std::lock_guard lock(mutex_);
        const double running =
            running_since_ ? std::chrono::duration<double, std::milli>(now - *running_since_).count() : -1;
        const double best = std::max(mean_ms_, running);
        if (best < 0) return std::nullopt;
        return best;
    }

    // How long the longest-waiting queued (not started) item has waited; zero when none waits.
    std::optional<std::chrono::steady_clock::duration> oldest_wait(std::chrono::steady_clock::time_point now) {
        std::lock_guard lock(mutex_);
        std::optional<std::chrono::steady_clock::duration> oldest;
        for (const auto& q : queue_) oldest = std::max(oldest.value_or(now - q.enqueued), now - q.enqueued);
        return oldest;
    }

    // After a fatal error nothing more is handled; queued records stay uncommitted, claimed
    // retries stay in their queues until their leases run out.
    void abandon() {
        std::lock_guard lock(mutex_);
        std::size_t heads = 0;
        for (const auto& q : queue_) heads += q.head ? 1 : 0;
        queue_.clear();
        for (std::size_t i = 0; i < heads; ++i) worker_.release_parked();
        closing_ = true;
        cv_.notify_all();
    }

private:
    struct Queued {
        InboundRecord record;
        OffsetTracker::Epoch epoch = 0;
        std::optional<ClaimedHead> head;  // a due retry instead of a consumed record
        std::string key;
        bool held = false;
        std::chrono::steady_clock::time_point enqueued{};
    };

    void loop() {
        for (;;) {
            Queued next;
            {
                std::unique_lock lock(mutex_);
                cv_.wait(lock, [&] { return closing_ || !queue_.empty(); });
                if (queue_.empty()) return;
                next = std::move(queue_.front());
                queue_.pop_front();
                running_key_ = next.key;
                running_since_ = std::chrono::steady_clock::now();
            }
            if (next.head) {
                if (worker_.fatal_) {
                    worker_.release_parked();
                    continue;
                }
                auto result = handle(*next.head);
                done(next.key);
                worker_.finished_parked(result);
                continue;
            }
            if (worker_.fatal_) continue;
            auto result = handle(next.record, next.held);
            done(next.key);
            worker_.finished(next.record, next.epoch, result);
        }
    }

    void done(const std::string& key) {
        {
            std::lock_guard lock(mutex_);
            running_key_.clear();
            const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                                         *running_since_).count();
            mean_ms_ = mean_ms_ < 0 ? ms : 0.8 * mean_ms_ + 0.2 * ms;
            running_since_.reset();
        }
        if (!key.empty()) worker_.placed_done(key);
    }

    ProcessResult handle(const ClaimedHead& head) {
        std::string what;
        try {
            return handler_->handle_parked(head);
        } catch (...) {
            what = describe_exception(std::current_exception());
        }
        if (worker_.log_) {
            worker_.log_->error("running the retry of {}/{}/{} threw: {}", head.event.app,
                                to_string(head.event.object_type), head.event.object_id, what);
        }
        try {
            return handler_->handle_parked_failure(head, what);
        } catch (...) {
            ProcessResult fatal;
            fatal.status = ProcessResult::Status::Fatal;
            fatal.fatal_reason = "a retry threw (" + what + ") and recording that failed too: " +
                                 describe_exception(std::current_exception());
            return fatal;
        }
    }

    // The handler returns errors as values; an exception is a bug in it, and it must cost one
    // record (dead-lettered by handle_failure), not the lane thread and with it the process.
    ProcessResult handle(const InboundRecord& record, bool held) {
        std::string what;
        try {
            return held ? handler_->handle_held(record) : handler_->handle(record);
        } catch (...) {
            what = describe_exception(std::current_exception());
        }
        if (worker_.log_) {
            worker_.log_->error("handling {}[{}]@{} threw: {}", record.topic, record.partition, record.offset,
                                what);
        }
        try {
            return handler_->handle_failure(record, what);
        } catch (...) {
            ProcessResult fatal;
            fatal.status = ProcessResult::Status::Fatal;
            fatal.fatal_reason = "record " + record.topic + "[" + std::to_string(record.partition) + "]@" +
                                 std::to_string(record.offset) + " threw (" + what +
                                 ") and recording that failed too: " +
                                 describe_exception(std::current_exception());
            return fatal;
        }
    }

    Worker& worker_;
    std::unique_ptr<RecordHandler> handler_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<Queued> queue_;
    std::string running_key_;  // the key of the item being handled, if any
    std::optional<std::chrono::steady_clock::time_point> running_since_;
    double mean_ms_ = -1;  // moving mean of how long an item takes here; negative: none yet
    bool closing_ = false;
    std::thread thread_;  // last: starts after the members it uses exist
};

struct Worker::AppGroup {
    std::string app;
    std::size_t first = 0;  // its first lane
    std::size_t lanes = 1;
    std::size_t max_queued = 1;
    std::size_t in_lanes = 0;  // its records and heads on its lanes (places_mutex_)
    std::atomic<bool> behind{false};
};

Worker::Worker(WorkerOptions options, SourceFactory sources, HandlerFactory handlers,
               std::shared_ptr<spdlog::logger> log)
    : options_(options),
      source_factory_(std::move(sources)),
      handler_factory_(std::move(handlers)),
      log_(std::move(log)) {}

Worker::~Worker() {
    lanes_.clear();
    source_.reset();
}

void Worker::request_stop() {
    stop_ = true;
    tracker_.notify();
}

WorkerCounters Worker::counters() const {
    WorkerCounters c;
    c.consumed = consumed_.load();
    c.applied = applied_.load();
    c.skipped = skipped_.load();
    c.warnings = warnings_.load();
    c.dead_lettered = dead_lettered_.load();
    c.duplicates = duplicates_.load();
    c.parked = parked_.load();
    c.retried = retried_.load();
    c.lease_lost = lease_lost_.load();
    c.held = held_.load();
    c.offset_gaps = offset_gaps_.load();
    c.events_lost_to_retention = events_lost_to_retention_.load();
    // Read last and counted first (see count): finished() - follow_ups never runs ahead.
    c.follow_ups = follow_ups_.load();
    c.dry_run = dry_run_.load();
    return c;
}

std::size_t Worker::lane_for(const InboundRecord& record) const {
    // Keyless records (dead-lettered as KeyMismatch) spread over the shared lanes by partition.
    const std::size_t h = std::hash<std::string>{}(record.topic) ^ static_cast<std::size_t>(record.partition);
    return h % shared_lanes_;
}

Worker::Placement Worker::place(const std::string& key, bool head) {
    std::lock_guard lock(places_mutex_);
    if (auto it = places_.find(key); it != places_.end()) {
        // The object has records in memory: this one goes behind them, whatever the app's room.
        ++it->second.count;
        if (it->second.group != nullptr) ++it->second.group->in_lanes;
        return Placement{it->second.lane, it->second.group, it->second.held};
    }
    // The key is <app>/<type>/<id>: one object, one lane of its app.
    const std::size_t h = std::hash<std::string>{}(key);
    const auto found = group_of_.find(std::string_view(key).substr(0, key.find('/')));
    Placement placement;
    if (found == group_of_.end()) {
        placement.lane = h % shared_lanes_;
    } else {
        AppGroup& group = *found->second;
        // Claimed heads were claimed within the app's room; an app that is behind gets no more
        // records in memory than its bound.
        if (!head && group.behind && group.in_lanes >= group.max_queued) {
            placement.lane = h % shared_lanes_;
            placement.held = true;
        } else {
            placement.lane = group.first + h % group.lanes;
            placement.group = &group;
            ++group.in_lanes;
        }
    }
    places_.emplace(key, KeyPlace{placement.lane, 1, placement.group, placement.held});
    return placement;
}

void Worker::placed_done(const std::string& key) {
    {
        std::lock_guard lock(places_mutex_);
        const auto it = places_.find(key);
        if (it == places_.end()) return;
        if (it->second.group != nullptr && it->second.group->in_lanes > 0) --it->second.group->in_lanes;
        if (--it->second.count == 0) places_.erase(it);
    }
}

void Worker::update_stalls() {
    const auto now = std::chrono::steady_clock::now();
    for (auto& group : groups_) {
        std::optional<std::chrono::steady_clock::duration> oldest;
        for (std::size_t i = 0; i < group->lanes; ++i) {
            if (auto wait = lanes_[group->first + i]->oldest_wait(now)) oldest = std::max(oldest.value_or(*wait), *wait);
        }
        // A backlog alone is not being behind: an app is, when its records wait and each takes so
        // long that its bounded share of memory (max_queued over its lanes) would still wait
        // longer than spill_after. A fast app working off a backlog stays in memory.
        double item_ms = 0;
        for (std::size_t i = 0; i < group->lanes; ++i) {
            item_ms += lanes_[group->first + i]->item_ms(now).value_or(0);
        }
        item_ms /= static_cast<double>(group->lanes);
        const double slow_ms = std::chrono::duration<double, std::milli>(options_.spill_after).count() *
                               static_cast<double>(group->lanes) / static_cast<double>(group->max_queued);
        const bool behind = oldest && *oldest >= options_.spill_after && item_ms >= slow_ms;
        if (behind != group->behind.exchange(behind) && log_) {
            if (behind) {
                log_->warn("app {} is behind (an event has waited {} ms for its lanes): its waiting events wait in "
                           "Redis, other apps are not held up",
                           group->app, std::chrono::duration_cast<std::chrono::milliseconds>(*oldest).count());
            } else {
                log_->info("app {} has caught up: its waiting events are taken back", group->app);
            }
        }
        if (behind) evict(*group);
    }
}

void Worker::evict(AppGroup& group) {
    for (std::size_t i = 0; i < group.lanes; ++i) {
        auto evicted = lanes_[group.first + i]->evict();
        if (evicted.empty()) continue;
        std::vector<std::size_t> to;
        {
            std::lock_guard lock(places_mutex_);
            // Every record of these objects in memory was just taken out: forget where they
            // were, then place them again, held, each object's on one shared lane in order.
            for (const auto& e : evicted) {
                auto it = places_.find(e.key);
                if (it == places_.end()) continue;
                if (it->second.group != nullptr && it->second.group->in_lanes > 0) --it->second.group->in_lanes;
                if (--it->second.count == 0) places_.erase(it);
            }
            for (const auto& e : evicted) {
                auto [it, fresh] = places_.try_emplace(e.key);
                if (fresh) it->second = KeyPlace{std::hash<std::string>{}(e.key) % shared_lanes_, 0, nullptr, true};
                ++it->second.count;
                to.push_back(it->second.lane);
            }
        }
        held_ += evicted.size();
        for (std::size_t k = 0; k < evicted.size(); ++k) {
            lanes_[to[k]]->push(std::move(evicted[k].record), evicted[k].epoch, std::move(evicted[k].key), true);
        }
    }
}

std::size_t Worker::app_room(const std::string& app) const {
    // An app that is behind takes no due retries until it catches up; any other app takes what
    // the worker's budget for claimed retries (max_parked_in_flight) allows: they go to the front
    // of their lanes, so a retry does not wait behind a backlog.
    const auto found = group_of_.find(app);
    if (found != group_of_.end() && found->second->behind) return 0;
    return std::numeric_limits<std::size_t>::max();
}

void Worker::dispatch(InboundRecord record, OffsetTracker::Epoch epoch) {
    if (!record.key) {
        const auto lane = lane_for(record);
        lanes_[lane]->push(std::move(record), epoch, {}, false);
        return;
    }
    const auto placement = place(*record.key, false);
    if (placement.held) ++held_;
    std::string key = *record.key;
    lanes_[placement.lane]->push(std::move(record), epoch, std::move(key), placement.held);
}

void Worker::fail(const std::string& reason) {
    {
        std::lock_guard lock(fatal_mutex_);
        if (fatal_) return;
        fatal_reason_ = reason;
        fatal_ = true;
    }
    tracker_.notify();
    { std::lock_guard lock(parked_mutex_); }
    parked_cv_.notify_all();
}

void Worker::finished(const InboundRecord& record, OffsetTracker::Epoch epoch, const ProcessResult& result) {
    if (result.status == ProcessResult::Status::Fatal) {
        // Leave the offset in flight: the record is redelivered after a restart.
        fail(result.fatal_reason);
        return;
    }
    // The outcome (or the parked place) is durable whether or not the partition is still ours,
    // so it counts (once: a redelivery to the new owner finds it and counts a duplicate there).
    count(result);
    if (!tracker_.complete(TopicPartition{record.topic, record.partition}, record.offset, epoch) && log_) {
        log_->info("{}[{}]@{} finished after its partition was revoked; its new owner will find it recorded",
                   record.topic, record.partition, record.offset);
    }
    if (observer_) observer_(result);
}

void Worker::count(const ProcessResult& result) {
    switch (result.status) {
        case ProcessResult::Status::Duplicate: ++duplicates_; return;
        case ProcessResult::Status::Parked: ++parked_; return;
        case ProcessResult::Status::LeaseLost: ++lease_lost_; return;
        case ProcessResult::Status::Fatal: return;
        case ProcessResult::Status::Recorded: break;
    }
    if (!result.record) return;
    if (result.record->source == kFollowUpSource) ++follow_ups_;
    if (result.record->dry_run) ++dry_run_;
    switch (result.record->status) {
        case OutcomeStatus::Applied: ++applied_; break;
        case OutcomeStatus::Skipped: ++skipped_; break;
        case OutcomeStatus::DeadLettered: ++dead_lettered_; break;
        case OutcomeStatus::Warning: ++warnings_; break;
    }
}

void Worker::finished_parked(const ProcessResult& result) {
    if (result.status == ProcessResult::Status::Fatal) {
        fail(result.fatal_reason);
    } else {
        // A head whose outcome existed already was only removed from its queue: not an event's
        // second outcome, so it is not counted as a duplicate either.
        if (result.status != ProcessResult::Status::Duplicate) count(result);
        if (observer_) observer_(result);
    }
    release_parked();
}

void Worker::release_parked() {
    {
        std::lock_guard lock(parked_mutex_);
        --parked_in_flight_;
    }
    parked_cv_.notify_all();
}

void Worker::claim_parked() {
    if (!parked_source_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now < next_claim_) return;
    const auto limit = static_cast<std::size_t>(std::max(1, options_.max_parked_in_flight));
    const std::size_t room = limit > parked_in_flight_ ? limit - parked_in_flight_ : 0;
    if (room == 0) return;
    auto heads = parked_source_->claim(room, [this](const std::string& app) { return app_room(app); });
    if (!heads) {
        if (log_) log_->warn("cannot claim due retries: {}", heads.error().message);
        next_claim_ = now + options_.parked_poll_interval;
        return;
    }
    // A full batch means more may be due: look again at once instead of after the interval.
    next_claim_ = heads->size() >= room ? now : now + options_.parked_poll_interval;
    for (auto& head : *heads) {
        ++retried_;
        ++parked_in_flight_;
        // The lane of the object's records in memory, so nothing of one object runs side by side.
        std::string key = head.event.app + "/" + std::string(to_string(head.event.object_type)) + "/" +
                          head.event.object_id;
        const auto placement = place(key, true);
        lanes_[placement.lane]->push(std::move(head), std::move(key));
    }
}

void Worker::report_progress(bool final) {
    const auto c = counters();
    if (progress_) {
        progress_(c, tracker_.in_flight(), final);
    } else if (log_) {
        log_->info("{}: consumed {}, applied {}, skipped {}, dead-lettered {}, duplicates {}, parked {}, "
                   "retried {}, held back {}, in flight {}{}",
                   final ? "stopped" : "progress", c.consumed, c.applied, c.skipped, c.dead_lettered,
                   c.duplicates, c.parked, c.retried, c.held, tracker_.in_flight(),
                   c.offset_gaps > 0 ? ", events lost to retention " + std::to_string(c.events_lost_to_retention) +
                                           " in " + std::to_string(c.offset_gaps) + " gap(s)"
                                     : std::string());
    }
}

void Worker::store_offsets() {
    auto offsets = tracker_.take_committable();
    if (!offsets.empty() && source_) source_->store_offsets(offsets);
}

void Worker::on_assigned(const std::vector<TopicPartition>& partitions) {
    // librdkafka keeps a partition's pause across a rebalance: one paused for back-pressure and
    // assigned again would never deliver another record while the worker believes it runs.
    // The polling loop pauses again if the lanes are still full.
    if (source_ && !partitions.empty()) source_->resume(partitions);
    paused_ = false;
    if (log_) log_->info("assigned {} partition(s)", partitions.size());
}

void Worker::on_revoked(const std::vector<TopicPartition>& partitions) {
    if (fatal_) {
        // Nothing unfinished will finish now (lanes abandon their queues), so waiting would
        // only delay the stop; offsets stop at the lowest unfinished record either way.
        store_offsets();
        tracker_.forget(partitions);
        if (log_) log_->warn("revoked {} partition(s) after a fatal error without waiting", partitions.size());
        return;
    }
    // Records not yet started go back to Kafka at once: running them now would race the
    // partitions' new owner, which starts from the offsets stored here.
    const std::set<TopicPartition> revoked(partitions.begin(), partitions.end());
    std::size_t dropped = 0;
    for (auto& lane : lanes_) {
        for (const auto& key : lane->drop(revoked)) {
            ++dropped;
            if (!key.empty()) placed_done(key);
        }
    }

    // Dropped records stay in the tracker (so no offset passes them) but never complete: wait
    // until only they are left.
    const auto deadline = std::chrono::steady_clock::now() + options_.revoke_timeout;
    const bool drained = tracker_.wait_below(dropped + 1, partitions, deadline, &fatal_);
    store_offsets();
    tracker_.forget(partitions);
    if (log_) {
        if (drained) {
            log_->info("revoked {} partition(s) after finishing their started events ({} queued given back)",
                       partitions.size(), dropped);
        } else {
            log_->warn("revoked {} partition(s) with events still running; they will be redelivered",
                       partitions.size());
        }
    }
}

std::optional<std::string> Worker::run() {
    try {
        source_ = source_factory_(*this);
    } catch (const std::exception& e) {
        // Joining the group is start-up: report it as the reason the worker could not run.
        return std::string("cannot join the consumer group: ") + e.what();
    }
    shared_lanes_ = static_cast<std::size_t>(std::max(1, options_.concurrency));
    std::size_t total = shared_lanes_;
    for (const auto& app : options_.apps) {
        auto group = std::make_unique<AppGroup>();
        group->app = app.app;
        group->first = total;
        group->lanes = static_cast<std::size_t>(std::max(1, app.lanes));
        group->max_queued = std::max(group->lanes, static_cast<std::size_t>(std::max(1, app.max_queued)));
        total += group->lanes;
        group_of_[group->app] = group.get();
        groups_.push_back(std::move(group));
    }
    for (std::size_t i = 0; i < total; ++i) {
        lanes_.push_back(std::make_unique<Lane>(*this, handler_factory_(static_cast<int>(i))));
    }
    const auto max_in_flight = static_cast<std::size_t>(std::max(1, options_.max_in_flight));
    auto next_progress = std::chrono::steady_clock::now() + options_.progress_interval;
    WorkerCounters last_progress{};
    constexpr auto kStallCheck = std::chrono::milliseconds(50);

    while (!stop_ && !fatal_) {
        const auto now = std::chrono::steady_clock::now();
        if (!groups_.empty() && now >= next_stall_check_) {
            update_stalls();
            next_stall_check_ = now + kStallCheck;
        }
        const std::size_t in_flight = tracker_.in_flight();
        if (!paused_ && in_flight >= max_in_flight) {
            source_->pause(source_->assignment());
            paused_ = true;
        } else if (paused_ && in_flight <= max_in_flight / 2) {
            source_->resume(source_->assignment());
            paused_ = false;
        }
        // More retries or follow-ups were due at the last claim: look again soon, not after a
        // whole poll timeout of an idle topic (which would cap them at one batch per timeout).
        constexpr std::chrono::milliseconds kDuePoll{5};
        const bool more_due = parked_source_ != nullptr && next_claim_ <= now;
        auto record = source_->poll(more_due ? std::min(options_.poll_timeout, kDuePoll) : options_.poll_timeout);
        if (auto err = source_->fatal_error()) {
            fail("kafka: " + *err);
            break;
        }
        if (record) {
            ++consumed_;
            const auto epoch = tracker_.begin(TopicPartition{record->topic, record->partition}, record->offset);
            dispatch(std::move(*record), epoch);
        }
        store_offsets();
        claim_parked();
        if (std::chrono::steady_clock::now() >= next_progress) {
            const auto c = counters();
            if (c.consumed != last_progress.consumed || c.finished() != last_progress.finished() ||
                c.parked != last_progress.parked || c.retried != last_progress.retried) {
                report_progress(false);
            }
            last_progress = c;
            next_progress = std::chrono::steady_clock::now() + options_.progress_interval;
        }
    }

    if (!fatal_) {
        // Drain: every record already handed to a lane reaches its outcome before we leave.
        // A fatal error meanwhile ends the wait: the rest will not finish.
        while (!fatal_ && tracker_.in_flight() > 0) {
            tracker_.wait_below(1, {}, std::chrono::steady_clock::now() + std::chrono::seconds(1), &fatal_);
        }
        // Claimed retries too: left unrun, they would wait for their leases to run out.
        std::unique_lock lock(parked_mutex_);
        parked_cv_.wait(lock, [&] { return fatal_ || parked_in_flight_ == 0; });
    }
    if (fatal_) {
        for (auto& lane : lanes_) lane->abandon();
    }
    // Joins lane threads. A lane mid-record finishes it first (bounded by the SCIM and Redis
    // timeouts); after a fatal error no queued record is started.
    lanes_.clear();
    store_offsets();
    if (fatal_) {
        source_->abandon();
    } else {
        source_->close();
    }
    source_.reset();
    report_progress(true);
    if (fatal_) {
        std::lock_guard lock(fatal_mutex_);
        return fatal_reason_;
    }
    return std::nullopt;
}

}  // namespace provbridge::consumers
