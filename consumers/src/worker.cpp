#include "provbridge/consumers/worker.hpp"

#include <condition_variable>
#include <deque>

namespace provbridge::consumers {

// One thread working through a FIFO queue: all records of one object land on the same lane,
// so per-object order is the partition order.
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

    void push(InboundRecord record) {
        {
            std::lock_guard lock(mutex_);
            queue_.push_back(std::move(record));
        }
        cv_.notify_one();
    }

    // After a fatal error nothing more is handled; queued records stay uncommitted.
    void abandon() {
        std::lock_guard lock(mutex_);
        queue_.clear();
        closing_ = true;
        cv_.notify_all();
    }

private:
    void loop() {
        for (;;) {
            InboundRecord record;
            {
                std::unique_lock lock(mutex_);
                cv_.wait(lock, [&] { return closing_ || !queue_.empty(); });
                if (queue_.empty()) return;
                record = std::move(queue_.front());
                queue_.pop_front();
            }
            if (worker_.fatal_) continue;
            const ProcessResult result = handler_->handle(record);
            worker_.finished(record, result);
        }
    }

    Worker& worker_;
    std::unique_ptr<RecordHandler> handler_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<InboundRecord> queue_;
    bool closing_ = false;
    std::thread thread_;  // last: starts after the members it uses exist
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
    return WorkerCounters{consumed_.load(), applied_.load(), skipped_.load(), dead_lettered_.load(),
                          duplicates_.load()};
}

std::size_t Worker::lane_for(const InboundRecord& record) const {
    // The key is <app>/<type>/<id>: one object, one lane. Keyless records spread by partition.
    const std::size_t h = record.key ? std::hash<std::string>{}(*record.key)
                                     : std::hash<std::string>{}(record.topic) ^ static_cast<std::size_t>(record.partition);
    return h % lanes_.size();
}

void Worker::fail(const std::string& reason) {
    {
        std::lock_guard lock(fatal_mutex_);
        if (fatal_) return;
        fatal_reason_ = reason;
        fatal_ = true;
    }
    tracker_.notify();
}

void Worker::finished(const InboundRecord& record, const ProcessResult& result) {
    if (result.status == ProcessResult::Status::Fatal) {
        // Leave the offset in flight: the record is redelivered after a restart.
        fail(result.fatal_reason);
        return;
    }
    if (result.status == ProcessResult::Status::Duplicate) {
        ++duplicates_;
    } else if (result.record) {
        switch (result.record->status) {
            case OutcomeStatus::Applied: ++applied_; break;
            case OutcomeStatus::Skipped: ++skipped_; break;
            case OutcomeStatus::DeadLettered: ++dead_lettered_; break;
        }
    }
    tracker_.complete(TopicPartition{record.topic, record.partition}, record.offset);
    if (observer_) observer_(result);
}

void Worker::report_progress(bool final) {
    const auto c = counters();
    if (progress_) {
        progress_(c, tracker_.in_flight(), final);
    } else if (log_) {
        log_->info("{}: consumed {}, applied {}, skipped {}, dead-lettered {}, duplicates {}, in flight {}",
                   final ? "stopped" : "progress", c.consumed, c.applied, c.skipped, c.dead_lettered,
                   c.duplicates, tracker_.in_flight());
    }
}

void Worker::store_offsets() {
    auto offsets = tracker_.take_committable();
    if (!offsets.empty() && source_) source_->store_offsets(offsets);
}

void Worker::on_assigned(const std::vector<TopicPartition>& partitions) {
    paused_ = false;
    if (log_) log_->info("assigned {} partition(s)", partitions.size());
}

void Worker::on_revoked(const std::vector<TopicPartition>& partitions) {
    const auto deadline = std::chrono::steady_clock::now() + options_.revoke_timeout;
    const bool drained = tracker_.wait_below(1, partitions, deadline) || tracker_.in_flight(partitions) == 0;
    store_offsets();
    tracker_.forget(partitions);
    if (log_) {
        if (drained) {
            log_->info("revoked {} partition(s) after finishing their in-flight events", partitions.size());
        } else {
            log_->warn("revoked {} partition(s) with events still in flight; they will be redelivered",
                       partitions.size());
        }
    }
}

std::optional<std::string> Worker::run() {
    source_ = source_factory_(*this);
    const int n = std::max(1, options_.concurrency);
    for (int i = 0; i < n; ++i) {
        lanes_.push_back(std::make_unique<Lane>(*this, handler_factory_(i)));
    }
    const auto max_in_flight = static_cast<std::size_t>(std::max(1, options_.max_in_flight));
    auto next_progress = std::chrono::steady_clock::now() + options_.progress_interval;
    WorkerCounters last_progress{};

    while (!stop_ && !fatal_) {
        const std::size_t in_flight = tracker_.in_flight();
        if (!paused_ && in_flight >= max_in_flight) {
            source_->pause(source_->assignment());
            paused_ = true;
        } else if (paused_ && in_flight <= max_in_flight / 2) {
            source_->resume(source_->assignment());
            paused_ = false;
        }
        auto record = source_->poll(options_.poll_timeout);
        if (auto err = source_->fatal_error()) {
            fail("kafka: " + *err);
            break;
        }
        if (record) {
            ++consumed_;
            tracker_.begin(TopicPartition{record->topic, record->partition}, record->offset);
            lanes_[lane_for(*record)]->push(std::move(*record));
        }
        store_offsets();
        if (std::chrono::steady_clock::now() >= next_progress) {
            const auto c = counters();
            if (c.consumed != last_progress.consumed || c.finished() != last_progress.finished()) {
                report_progress(false);
            }
            last_progress = c;
            next_progress = std::chrono::steady_clock::now() + options_.progress_interval;
        }
    }

    if (!fatal_) {
        // Drain: every record already handed to a lane reaches its outcome before we leave.
        while (!fatal_ && tracker_.in_flight() > 0) {
            tracker_.wait_below(1, {}, std::chrono::steady_clock::now() + std::chrono::seconds(1));
        }
    }
    if (fatal_) {
        for (auto& lane : lanes_) lane->abandon();
    }
    lanes_.clear();  // joins lane threads; a lane mid-record finishes it first
    store_offsets();
    source_->close();
    source_.reset();
    report_progress(true);
    if (fatal_) {
        std::lock_guard lock(fatal_mutex_);
        return fatal_reason_;
    }
    return std::nullopt;
}

}  // namespace provbridge::consumers
