#include "provbridge/consumers/kafka_consumer.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include <spdlog/spdlog.h>

namespace provbridge::consumers {
namespace {

using producers::KafkaConfPtr;
using producers::KafkaMessagePtr;
using producers::TopicPartitionListPtr;
using producers::kafka_error_text;
using producers::make_conf;
using producers::to_inbound_record;

using SteadyClock = std::chrono::steady_clock;

TopicPartitionListPtr to_kafka_list(const std::vector<TopicPartition>& partitions) {
    TopicPartitionListPtr list(
        rd_kafka_topic_partition_list_new(static_cast<int>(std::max<std::size_t>(partitions.size(), 1))));
    for (const auto& tp : partitions) {
        rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition);
    }
    return list;
}

std::vector<TopicPartition> from_kafka_list(const rd_kafka_topic_partition_list_t* list) {
    std::vector<TopicPartition> out;
    if (list == nullptr) return out;
    out.reserve(static_cast<std::size_t>(list->cnt));
    for (int i = 0; i < list->cnt; ++i) {
        out.push_back(TopicPartition{list->elems[i].topic, list->elems[i].partition});
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::string describe(const std::vector<TopicPartition>& partitions) {
    std::string text;
    for (const auto& tp : partitions) {
        if (!text.empty()) text += ", ";
        text += tp.topic + "[" + std::to_string(tp.partition) + "]";
    }
    return text.empty() ? "(none)" : text;
}

spdlog::level::level_enum level_of_syslog(int level) {
    if (level <= 2) return spdlog::level::critical;
    if (level == 3) return spdlog::level::err;
    if (level == 4) return spdlog::level::warn;
    if (level <= 6) return spdlog::level::info;
    return spdlog::level::debug;
}

}  // namespace

std::map<std::string, std::string> KafkaConsumer::effective_properties(std::map<std::string, std::string> properties) {
    properties["enable.auto.offset.store"] = "false";
    properties["enable.auto.commit"] = "true";
    properties["auto.offset.reset"] = "earliest";
    properties["enable.partition.eof"] = "false";
    properties["partition.assignment.strategy"] = "range,roundrobin";
    return properties;
}

KafkaConsumer::KafkaConsumer(std::map<std::string, std::string> properties,
                             std::vector<std::string> topics, RebalanceListener& listener,
                             std::shared_ptr<spdlog::logger> log, std::chrono::milliseconds lost_timeout,
                             GapListener* gaps)
    : log_(std::move(log)), listener_(listener), gaps_(gaps), loss_(lost_timeout) {
    if (!log_) throw std::invalid_argument("KafkaConsumer needs a logger");
    const auto group = properties.find("group.id");
    if (group == properties.end() || group->second.empty()) {
        throw std::runtime_error("kafka property \"group.id\": is required for the consumer");
    }
    group_ = group->second;
    if (topics.empty()) throw std::runtime_error("KafkaConsumer: no topics to subscribe to");
    if (const auto it = properties.find("bootstrap.servers"); it != properties.end()) bootstrap_ = it->second;

    KafkaConfPtr conf = make_conf(effective_properties(std::move(properties)));
    rd_kafka_conf_set_opaque(conf.get(), this);
    rd_kafka_conf_set_rebalance_cb(conf.get(), &KafkaConsumer::on_rebalance);
    rd_kafka_conf_set_error_cb(conf.get(), &KafkaConsumer::on_error);
    rd_kafka_conf_set_log_cb(conf.get(), &KafkaConsumer::on_log);

    char errstr[512] = {0};
    handle_.reset(rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), errstr, sizeof errstr));
    if (!handle_) throw std::runtime_error(std::string("cannot create Kafka consumer: ") + errstr);
    conf.release();  // owned by the handle from here on
    // One queue for everything, so rebalance callbacks run inside poll() on the caller's thread.
    rd_kafka_poll_set_consumer(handle_.get());

    TopicPartitionListPtr subscription(rd_kafka_topic_partition_list_new(static_cast<int>(topics.size())));
    for (const auto& topic : topics) {
        rd_kafka_topic_partition_list_add(subscription.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
    }
    const rd_kafka_resp_err_t err = rd_kafka_subscribe(handle_.get(), subscription.get());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        throw std::runtime_error("cannot subscribe to Kafka topics: " + kafka_error_text(err));
    }
}

KafkaConsumer::~KafkaConsumer() {
    try {
        close();
    } catch (...) {
        // Destructors must not throw; close() only throws on allocation failure.
    }
    if (abandoned_) {
        // rd_kafka_destroy would run the consumer close that close() skipped.
        rd_kafka_destroy_flags(handle_.release(), RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    }
    handle_.reset();
}

std::optional<InboundRecord> KafkaConsumer::poll(std::chrono::milliseconds timeout) {
    auto record = poll_once(timeout);
    if (record) {
        std::lock_guard lock(fatal_mutex_);
        loss_.reachable();
    } else {
        check_lost();
    }
    return record;
}

void KafkaConsumer::check_lost() {
    if (closed_ || loss_.bound().count() <= 0) return;
    {
        std::lock_guard lock(fatal_mutex_);
        if (fatal_ || !loss_.due(SteadyClock::now())) return;
    }
    // librdkafka keeps reconnecting by itself; only a metadata request that fails too says the
    // cluster is gone rather than quiet. Bounded, and only asked once the outage is long.
    const rd_kafka_metadata_t* metadata = nullptr;
    const rd_kafka_resp_err_t err =
        rd_kafka_metadata(handle_.get(), 0, nullptr, &metadata, static_cast<int>(loss_.probe().count()));
    std::lock_guard lock(fatal_mutex_);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_metadata_destroy(metadata);
        loss_.reachable();
        log_->info("kafka: a broker answers again at {}", bootstrap_);
        return;
    }
    if (fatal_) return;
    fatal_ = make_error("lost Kafka at " + bootstrap_ + ": no broker reachable for " +
                            std::to_string(loss_.down_for(SteadyClock::now()).count()) +
                            " ms and a metadata request failed (" + kafka_error_text(err) + ")",
                        ErrorKind::Transient);
    log_->critical("{}", fatal_->message);
}

std::optional<InboundRecord> KafkaConsumer::poll_once(std::chrono::milliseconds timeout) {
    if (closed_) return std::nullopt;
    const auto deadline = SteadyClock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
        KafkaMessagePtr message(
            rd_kafka_consumer_poll(handle_.get(), static_cast<int>(std::max<long long>(left.count(), 0))));
        if (!message) return std::nullopt;
        if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            follow(*message);
            return to_inbound_record(*message);
        }
        if (message->err == RD_KAFKA_RESP_ERR__FATAL) {
            note_fatal(handle_.get());
            return std::nullopt;
        }
        if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            const char* topic = message->rkt != nullptr ? rd_kafka_topic_name(message->rkt) : "";
            log_->warn("kafka consumer error (topic {} partition {}): {} ({})", topic,
                       message->partition, rd_kafka_message_errstr(message.get()),
                       rd_kafka_err2name(message->err));
        }
        if (SteadyClock::now() >= deadline) return std::nullopt;
    }
}

void KafkaConsumer::read_committed(const rd_kafka_topic_partition_list_t* partitions) {
    TopicPartitionListPtr list(rd_kafka_topic_partition_list_copy(partitions));
    const rd_kafka_resp_err_t err =
        rd_kafka_committed(handle_.get(), list.get(), static_cast<int>(kGapCheckTimeout.count()));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_->warn("kafka: cannot read the committed offsets of {} ({}): if retention removed events there "
                   "before the group read them, it will not be noticed",
                   describe(from_kafka_list(partitions)), kafka_error_text(err));
        return;
    }
    for (int i = 0; i < list->cnt; ++i) {
        const auto& elem = list->elems[i];
        // No committed offset: a new group starts at the log start by design, not past a gap.
        if (elem.err != RD_KAFKA_RESP_ERR_NO_ERROR || elem.offset < 0) continue;
        expected_[TopicPartition{elem.topic, elem.partition}] = elem.offset;
    }
}

void KafkaConsumer::follow(const rd_kafka_message_t& message) {
    TopicPartition tp{rd_kafka_topic_name(message.rkt), message.partition};
    const auto it = expected_.find(tp);
    if (it == expected_.end()) {
        expected_.emplace(std::move(tp), message.offset + 1);
        return;
    }
    const std::int64_t expected = it->second;
    it->second = message.offset + 1;
    if (message.offset <= expected) return;
    // A jump. The fetch that brought this record reported the log start with it; ask the leader
    // only when no fetch has.
    std::int64_t low = RD_KAFKA_OFFSET_INVALID;
    std::int64_t high = RD_KAFKA_OFFSET_INVALID;
    rd_kafka_resp_err_t err =
        rd_kafka_get_watermark_offsets(handle_.get(), tp.topic.c_str(), tp.partition, &low, &high);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR || low < 0) {
        err = rd_kafka_query_watermark_offsets(handle_.get(), tp.topic.c_str(), tp.partition, &low, &high,
                                               static_cast<int>(kGapCheckTimeout.count()));
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_->error("kafka: {}[{}] went on at offset {} where group {} was to continue at {}, and its log start "
                    "cannot be read ({}): up to {} event(s) may have been removed by retention before the group "
                    "read them",
                    tp.topic, tp.partition, message.offset, group_, expected, kafka_error_text(err),
                    message.offset - expected);
        return;
    }
    const auto gap = find_offset_gap(expected, message.offset, low);
    if (!gap) return;
    log_->error("kafka: offset gap on {}[{}]: group {} was to continue at offset {}, but the broker's log starts at "
                "{}: {} event(s) were removed by retention before the group read them and will not be provisioned; "
                "send them again from the source or run a full sync",
                tp.topic, tp.partition, group_, gap->committed, gap->log_start, gap->lost);
    if (gaps_ == nullptr) return;
    try {
        gaps_->on_offset_gap(group_, tp, *gap);
    } catch (const std::exception& e) {
        log_->error("offset gap listener failed: {}", e.what());
    } catch (...) {
        log_->error("offset gap listener failed");
    }
}

void KafkaConsumer::pause(const std::vector<TopicPartition>& partitions) {
    if (partitions.empty()) return;
    auto list = to_kafka_list(partitions);
    const rd_kafka_resp_err_t err = rd_kafka_pause_partitions(handle_.get(), list.get());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_->warn("cannot pause {}: {}", describe(partitions), kafka_error_text(err));
    }
}

void KafkaConsumer::resume(const std::vector<TopicPartition>& partitions) {
    if (partitions.empty()) return;
    auto list = to_kafka_list(partitions);
    const rd_kafka_resp_err_t err = rd_kafka_resume_partitions(handle_.get(), list.get());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_->warn("cannot resume {}: {}", describe(partitions), kafka_error_text(err));
    }
}

Result<bool> KafkaConsumer::store_offset(const TopicPartition& partition, std::int64_t next_offset) {
    auto list = to_kafka_list({partition});
    list->elems[0].offset = next_offset;
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(handle_.get(), list.get());
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) err = list->elems[0].err;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return make_error("cannot store offset " + std::to_string(next_offset) + " for " +
                          partition.topic + "[" + std::to_string(partition.partition) +
                          "]: " + kafka_error_text(err));
    }
    return true;
}

Result<bool> KafkaConsumer::commit_sync() {
    const rd_kafka_resp_err_t err = rd_kafka_commit(handle_.get(), nullptr, 0);
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) return false;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return make_error("offset commit failed: " + kafka_error_text(err));
    }
    return true;
}

void KafkaConsumer::abandon() {
    if (closed_) return;
    closed_ = true;
    abandoned_ = true;
    const rd_kafka_resp_err_t err = rd_kafka_commit(handle_.get(), nullptr, /*async=*/1);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        log_->warn("kafka: offsets not sent on a fatal stop: {}", kafka_error_text(err));
    }
    log_->warn("kafka consumer left without waiting for the group (fatal stop); uncommitted records are redelivered");
}

void KafkaConsumer::close() {
    if (closed_) return;
    closed_ = true;
    {
        std::lock_guard lock(fatal_mutex_);
        abandoned_ = fatal_.has_value();
    }
    if (abandoned_) {
        // Lost or failed: there is no coordinator to commit to or leave, and librdkafka would
        // wait for one for seconds. The next owner starts from the last committed offsets.
        log_->warn("kafka consumer closed without committing or leaving the group (the cluster is gone)");
        return;
    }
    const rd_kafka_resp_err_t err = rd_kafka_consumer_close(handle_.get());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_->warn("kafka consumer close: {}", kafka_error_text(err));
    }
}

std::vector<TopicPartition> KafkaConsumer::assignment() const {
    rd_kafka_topic_partition_list_t* raw = nullptr;
    if (rd_kafka_assignment(handle_.get(), &raw) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
    TopicPartitionListPtr list(raw);
    return from_kafka_list(list.get());
}

std::optional<Error> KafkaConsumer::fatal_error() const {
    std::lock_guard lock(fatal_mutex_);
    return fatal_;
}

void KafkaConsumer::note_fatal(rd_kafka_t* rk) {
    char errstr[512] = {0};
    const rd_kafka_resp_err_t err = rd_kafka_fatal_error(rk, errstr, sizeof errstr);
    std::string text = std::string("fatal Kafka consumer error: ") +
                       (err != RD_KAFKA_RESP_ERR_NO_ERROR ? std::string(errstr) + " (" + rd_kafka_err2name(err) + ")"
                                                          : std::string("unknown"));
    {
        std::lock_guard lock(fatal_mutex_);
        if (fatal_) return;
        fatal_ = make_error(text);
    }
    log_->critical("{}", text);
}

void KafkaConsumer::on_rebalance(rd_kafka_t* /*rk*/, rd_kafka_resp_err_t err,
                                 rd_kafka_topic_partition_list_t* partitions, void* opaque) {
    auto* self = static_cast<KafkaConsumer*>(opaque);
    try {
        self->handle_rebalance(err, partitions);
    } catch (...) {
        // Never unwind through librdkafka. The listener's exceptions are caught inside
        // handle_rebalance; this only guards against allocation failures while logging.
    }
}

void KafkaConsumer::handle_rebalance(rd_kafka_resp_err_t err,
                                     rd_kafka_topic_partition_list_t* partitions) {
    rd_kafka_t* rk = handle_.get();
    const auto list = from_kafka_list(partitions);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        const rd_kafka_resp_err_t aerr = rd_kafka_assign(rk, partitions);
        if (aerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
            log_->error("cannot take assignment {}: {}", describe(list), kafka_error_text(aerr));
        }
        log_->info("kafka partitions assigned: {}", describe(list));
        read_committed(partitions);
        try {
            listener_.on_assigned(list);
        } catch (const std::exception& e) {
            log_->error("rebalance listener failed on assignment: {}", e.what());
        } catch (...) {
            log_->error("rebalance listener failed on assignment");
        }
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        log_->info("kafka partitions revoked: {}", describe(list));
        for (const auto& tp : list) expected_.erase(tp);
        try {
            listener_.on_revoked(list);
        } catch (const std::exception& e) {
            log_->error("rebalance listener failed on revocation: {}", e.what());
        } catch (...) {
            log_->error("rebalance listener failed on revocation");
        }
        // Committing here, while still owning the partitions, is what keeps a new owner from
        // reprocessing what the listener just finished.
        const rd_kafka_resp_err_t cerr = rd_kafka_commit(rk, nullptr, 0);
        if (cerr != RD_KAFKA_RESP_ERR_NO_ERROR && cerr != RD_KAFKA_RESP_ERR__NO_OFFSET) {
            log_->warn("offset commit on revocation failed: {}", kafka_error_text(cerr));
        }
        rd_kafka_assign(rk, nullptr);
        return;
    }
    log_->error("kafka rebalance error: {}", kafka_error_text(err));
    expected_.clear();
    rd_kafka_assign(rk, nullptr);
}

void KafkaConsumer::on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    auto* self = static_cast<KafkaConsumer*>(opaque);
    try {
        if (err == RD_KAFKA_RESP_ERR__FATAL) {
            self->note_fatal(rk);
            return;
        }
        if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
            std::lock_guard lock(self->fatal_mutex_);
            self->loss_.all_brokers_down(SteadyClock::now());
        }
        // librdkafka retries these itself (broker down, transport); they are worth a warning.
        self->log_->warn("kafka: {} ({})", reason != nullptr ? reason : "",
                         rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)));
    } catch (...) {
    }
}

void KafkaConsumer::on_log(const rd_kafka_t* rk, int level, const char* facility, const char* text) {
    auto* self = static_cast<KafkaConsumer*>(rd_kafka_opaque(rk));
    if (self == nullptr || !self->log_) return;
    try {
        self->log_->log(level_of_syslog(level), "librdkafka {}: {}", facility != nullptr ? facility : "",
                        text != nullptr ? text : "");
    } catch (...) {
    }
}

}  // namespace provbridge::consumers
