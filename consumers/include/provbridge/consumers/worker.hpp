#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <unordered_map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <spdlog/logger.h>

#include "provbridge/consumers/event_processor.hpp"
#include "provbridge/consumers/kafka_consumer.hpp"
#include "provbridge/consumers/offset_tracker.hpp"
#include "provbridge/core/event.hpp"
#include "provbridge/core/state_store.hpp"

namespace provbridge::consumers {

// What the worker needs from Kafka (a consumer group member), as an interface so the worker's
// ordering, back-pressure and offset rules can be tested without a broker. The source tells
// the worker (a RebalanceListener) about partition moves from inside poll().
class RecordSource {
public:
    virtual ~RecordSource() = default;
    virtual std::optional<InboundRecord> poll(std::chrono::milliseconds timeout) = 0;
    virtual void pause(const std::vector<TopicPartition>& partitions) = 0;
    virtual void resume(const std::vector<TopicPartition>& partitions) = 0;
    // Offsets are "next to consume"; only stored offsets are ever committed.
    virtual void store_offsets(const std::vector<std::pair<TopicPartition, std::int64_t>>& offsets) = 0;
    virtual std::vector<TopicPartition> assignment() const = 0;
    // Commits stored offsets and leaves the group.
    virtual void close() = 0;
    // After a fatal error: gives the group up without waiting on the cluster, which may be the
    // very thing that failed. Offsets not committed by then are redelivered, which is safe.
    virtual void abandon() { close(); }
    virtual std::optional<std::string> fatal_error() const = 0;
};

// Handles one record to its recorded outcome. One per lane, used from that lane's thread.
class RecordHandler {
public:
    virtual ~RecordHandler() = default;
    virtual ProcessResult handle(const InboundRecord& record) = 0;
    // Called when handle() threw (`what` says what was thrown): gives the record an outcome
    // anyway, typically by dead-lettering it, so one bad record does not stop its partition.
    // The default cannot record anything, so it stops the worker without committing the
    // record. If this throws as well, the worker stops the same way.
    virtual ProcessResult handle_failure(const InboundRecord& record, std::string_view what);
    // The claimed head of an object's queue (a due retry). The default cannot run it: it stops
    // the worker, and the lease lets another worker take the head over.
    virtual ProcessResult handle_parked(const ClaimedHead& head);
    // Like handle_failure, for a head whose handle_parked threw.
    virtual ProcessResult handle_parked_failure(const ClaimedHead& head, std::string_view what);
    // A record whose app is behind (its lanes are full with a backlog older than spill_after):
    // parks it in its object's queue, due at once, without sending anything, so it waits in
    // Redis instead of in memory and other apps' records keep flowing. The default cannot park,
    // so it handles the record now.
    virtual ProcessResult handle_held(const InboundRecord& record) { return handle(record); }
};

// Where a worker finds due retries: the heads of object queues whose time has come, claimed
// with a lease for this worker.
class ParkedWorkSource {
public:
    virtual ~ParkedWorkSource() = default;
    // How many more heads an app's lanes can take now.
    using AppRoom = std::function<std::size_t(const std::string& app)>;
    // Up to `max` due heads, no more for an app than room(app). An error is reported and the
    // claim tried again at the next interval.
    virtual Result<std::vector<ClaimedHead>> claim(std::size_t max, const AppRoom& room) = 0;
};

// An app's own lanes: `lanes` requests in flight at most (one per lane), and, while it is behind,
// at most `max_queued` of its records in memory (running or waiting on its lanes).
struct AppLanes {
    std::string app;
    int lanes = 16;
    int max_queued = 64;
};

struct WorkerOptions {
    int concurrency = 16;
    int max_in_flight = 1000;
    std::chrono::milliseconds poll_timeout{100};
    // How long a revoke waits for the revoked partitions' records that lanes have started
    // before giving the partitions up uncommitted (queued records are given up at once).
    std::chrono::milliseconds revoke_timeout{60000};
    std::chrono::milliseconds progress_interval{5000};
    // How often due retries are claimed, and how many claimed ones may wait in lanes at once.
    std::chrono::milliseconds parked_poll_interval{200};
    int max_parked_in_flight = 32;
    // Each configured app runs on lanes of its own, so a slow app's requests never hold up
    // another's. `concurrency` shared lanes take records of no configured app and the records
    // held back from an app that is behind. Empty: every record runs on the shared lanes.
    std::vector<AppLanes> apps{};
    // An app whose oldest waiting record has waited this long for its lanes, and whose records
    // take so long each that max_queued of them over its lanes would take longer, is behind: its
    // waiting records, and its next ones beyond max_queued, are parked in Redis
    // (RecordHandler::handle_held) instead of kept in memory, and none of its due retries are
    // claimed until it catches up. An app that is not behind keeps its records in memory, up to
    // the worker's max_in_flight (back-pressure).
    std::chrono::milliseconds spill_after{1000};
};

struct WorkerCounters {
    std::uint64_t consumed = 0;
    std::uint64_t applied = 0;
    std::uint64_t skipped = 0;
    std::uint64_t dead_lettered = 0;
    std::uint64_t duplicates = 0;
    std::uint64_t parked = 0;      // attempts that ended waiting in a queue (a retry, or behind one)
    std::uint64_t retried = 0;     // claimed heads run again
    std::uint64_t lease_lost = 0;  // claimed heads another worker took over
    std::uint64_t held = 0;        // records parked unrun because their app was behind
    std::uint64_t offset_gaps = 0;               // partitions that went on past a retention gap
    std::uint64_t events_lost_to_retention = 0;  // offsets in those gaps: events never read
    // Of the finished, the follow-ups the bridge parked itself (a group's members sync, a
    // user's reevaluation): outcomes of no event a producer sent.
    std::uint64_t follow_ups = 0;
    // Of the finished, the outcomes a dry run decided (apps[].dry_run, run --dry-run): nothing sent.
    std::uint64_t dry_run = 0;
    // Reference checks that found a reference still unresolved (follow-ups too).
    std::uint64_t warnings = 0;
    // Events with their one outcome (a parked event counts once its outcome is recorded).
    std::uint64_t finished() const { return applied + skipped + dead_lettered + warnings + duplicates; }
};

// Consumes records, runs each object's events in order on one of N lanes (many objects in
// flight), and stores a partition's offset only up to the lowest record whose outcome is not
// yet durable. Stopping drains in-flight work, commits and leaves the group.
class Worker final : public RebalanceListener {
public:
    using SourceFactory = std::function<std::unique_ptr<RecordSource>(RebalanceListener&)>;
    using HandlerFactory = std::function<std::unique_ptr<RecordHandler>(int lane)>;
    using Observer = std::function<void(const ProcessResult&)>;
    // Called from the polling thread at most every progress_interval while counters change,
    // and once more when the worker stops (final = true).
    using ProgressFn = std::function<void(const WorkerCounters&, std::size_t in_flight, bool final)>;

    Worker(WorkerOptions options, SourceFactory sources, HandlerFactory handlers,
           std::shared_ptr<spdlog::logger> log);
    ~Worker() override;
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // Runs until request_stop() or a fatal error. Returns an empty optional on a clean stop,
    // else the fatal reason (the offsets of unfinished records are not committed).
    std::optional<std::string> run();
    // Safe from any thread and from a signal-watching thread.
    void request_stop();
    // Called from lane threads after each record.
    void set_observer(Observer observer) { observer_ = std::move(observer); }
    void set_progress(ProgressFn progress) { progress_ = std::move(progress); }
    // Due retries to run beside the consumed records (before run()); none when not set.
    void set_parked_source(std::unique_ptr<ParkedWorkSource> source) { parked_source_ = std::move(source); }
    WorkerCounters counters() const;
    // A partition went on past events retention removed (the consumer's GapListener). Any thread.
    void count_offset_gap(std::uint64_t lost) {
        ++offset_gaps_;
        events_lost_to_retention_ += lost;
    }

    // RebalanceListener. A revoke takes the partitions' queued records out of the lanes (their
    // offsets stay unstored, so the new owner gets them), waits up to revoke_timeout for the
    // ones lanes have started, stores what is durable and forgets the partitions. After a
    // fatal error it waits for nothing: whatever is unfinished stays uncommitted.
    void on_assigned(const std::vector<TopicPartition>& partitions) override;
    void on_revoked(const std::vector<TopicPartition>& partitions) override;

private:
    class Lane;
    struct AppGroup;
    // Where an object's records in memory are: all on one lane, so they run in order.
    struct KeyPlace {
        std::size_t lane = 0;
        std::size_t count = 0;
        AppGroup* group = nullptr;  // its app's group when on the app's lanes, else nullptr
        bool held = false;          // on a shared lane, to be parked unrun
    };
    struct Placement {
        std::size_t lane = 0;
        AppGroup* group = nullptr;
        bool held = false;
    };
    Placement place(const std::string& key, bool head);
    void placed_done(const std::string& key);
    void update_stalls();
    // Moves an app's queued records (of objects with nothing running or claimed on its lanes)
    // to the shared lanes, to be parked unrun, in order.
    void evict(AppGroup& group);
    std::size_t app_room(const std::string& app) const;
    void dispatch(InboundRecord record, OffsetTracker::Epoch epoch);
    void store_offsets();
    void finished(const InboundRecord& record, OffsetTracker::Epoch epoch, const ProcessResult& result);
    void finished_parked(const ProcessResult& result);
    void release_parked();
    void count(const ProcessResult& result);
    void claim_parked();
    void fail(const std::string& reason);
    void report_progress(bool final);
    std::size_t lane_for(const InboundRecord& record) const;

    WorkerOptions options_;
    SourceFactory source_factory_;
    HandlerFactory handler_factory_;
    std::shared_ptr<spdlog::logger> log_;
    Observer observer_;
    ProgressFn progress_;

    std::unique_ptr<RecordSource> source_;
    std::unique_ptr<ParkedWorkSource> parked_source_;
    std::atomic<std::size_t> parked_in_flight_{0};
    std::mutex parked_mutex_;
    std::condition_variable parked_cv_;
    std::chrono::steady_clock::time_point next_claim_{};
    std::vector<std::unique_ptr<Lane>> lanes_;
    std::size_t shared_lanes_ = 1;
    std::vector<std::unique_ptr<AppGroup>> groups_;
    std::map<std::string, AppGroup*, std::less<>> group_of_;
    mutable std::mutex places_mutex_;
    std::unordered_map<std::string, KeyPlace> places_;
    std::chrono::steady_clock::time_point next_stall_check_{};
    OffsetTracker tracker_;
    std::atomic<bool> stop_{false};
    std::atomic<bool> fatal_{false};
    mutable std::mutex fatal_mutex_;
    std::string fatal_reason_;
    bool paused_ = false;

    std::atomic<std::uint64_t> consumed_{0};
    std::atomic<std::uint64_t> applied_{0};
    std::atomic<std::uint64_t> follow_ups_{0};
    std::atomic<std::uint64_t> dry_run_{0};
    std::atomic<std::uint64_t> skipped_{0};
    std::atomic<std::uint64_t> dead_lettered_{0};
    std::atomic<std::uint64_t> warnings_{0};
    std::atomic<std::uint64_t> duplicates_{0};
    std::atomic<std::uint64_t> parked_{0};
    std::atomic<std::uint64_t> retried_{0};
    std::atomic<std::uint64_t> lease_lost_{0};
    std::atomic<std::uint64_t> held_{0};
    std::atomic<std::uint64_t> offset_gaps_{0};
    std::atomic<std::uint64_t> events_lost_to_retention_{0};
};

}  // namespace provbridge::consumers
