#include "provbridge/producers/producer.hpp"

#include <algorithm>
#include <ctime>
#include <memory>
#include <stdexcept>
#include <utility>

#include <openssl/evp.h>

namespace provbridge::producers {
namespace {

using SteadyClock = std::chrono::steady_clock;
using DeliveryPromise = std::promise<Result<DeliveryReport>>;

// Bounds the destructor's wait for reports of purged records; they are emitted locally.
constexpr int kPurgeReportWaitMs = 2000;
// Upper bound on how long the poll thread notices shutdown; rd_kafka_poll blocks until an
// event arrives or this passes, so this is not a busy loop.
constexpr int kPollIntervalMs = 100;

std::future<Result<DeliveryReport>> ready(Result<DeliveryReport> result) {
    DeliveryPromise promise;
    promise.set_value(std::move(result));
    return promise.get_future();
}

}  // namespace

KafkaProducer::KafkaProducer(const std::map<std::string, std::string>& properties)
    : KafkaProducer(properties, Options{}) {}

KafkaProducer::KafkaProducer(const std::map<std::string, std::string>& properties, Options options)
    : options_(std::move(options)) {
    KafkaConfPtr conf = make_conf(effective_properties(properties));
    rd_kafka_conf_set_opaque(conf.get(), this);
    rd_kafka_conf_set_dr_msg_cb(conf.get(), &KafkaProducer::on_delivery);
    rd_kafka_conf_set_error_cb(conf.get(), &KafkaProducer::on_error);
    if (options_.log) rd_kafka_conf_set_log_cb(conf.get(), &KafkaProducer::on_log);

    char errstr[512] = {0};
    handle_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof errstr));
    if (!handle_) throw std::runtime_error(std::string("cannot create Kafka producer: ") + errstr);
    conf.release();  // owned by the handle from here on

    poller_ = std::thread([this] {
        while (!stopping_.load(std::memory_order_acquire)) {
            rd_kafka_poll(handle_.get(), kPollIntervalMs);
        }
    });
}

std::map<std::string, std::string> KafkaProducer::effective_properties(std::map<std::string, std::string> properties) {
    properties["enable.idempotence"] = "true";
    properties["acks"] = "all";
    return properties;
}

KafkaProducer::~KafkaProducer() {
    rd_kafka_flush(handle_.get(), static_cast<int>(options_.close_flush_timeout.count()));
    stopping_.store(true, std::memory_order_release);
    if (poller_.joinable()) poller_.join();
    // Whatever is left would otherwise be dropped by rd_kafka_destroy without a report,
    // leaving callers' futures unresolved: purge so each gets a "purged" error instead.
    if (rd_kafka_outq_len(handle_.get()) > 0) {
        rd_kafka_purge(handle_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(handle_.get(), kPurgeReportWaitMs);
    }
    handle_.reset();
}

std::future<Result<DeliveryReport>> KafkaProducer::send(const std::string& topic,
                                                        const std::optional<std::string>& key,
                                                        std::string_view value,
                                                        const std::vector<Header>& headers) {
    auto promise = std::make_unique<DeliveryPromise>();
    auto future = promise->get_future();
    KafkaHeadersPtr kafka_headers = headers_to_kafka(headers);
    const auto deadline = SteadyClock::now() + options_.queue_full_wait;
    // The librdkafka V_* macros cast their arguments without parentheses: pass plain names.
    const void* key_data = key ? key->data() : nullptr;
    const std::size_t key_size = key ? key->size() : 0;
    void* value_data = const_cast<char*>(value.data());
    const std::size_t value_size = value.size();
    rd_kafka_headers_t* headers_raw = kafka_headers.get();
    void* opaque = promise.get();
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    // Counted before queueing: the report may arrive before producev even returns.
    awaiting_report_.fetch_add(1, std::memory_order_relaxed);
    for (;;) {
        err = rd_kafka_producev(
            handle_.get(), RD_KAFKA_V_TOPIC(topic.c_str()),
            RD_KAFKA_V_KEY(key_data, key_size), RD_KAFKA_V_VALUE(value_data, value_size),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers_raw),
            RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || SteadyClock::now() >= deadline) break;
        // Serving reports frees queue space; blocks until an event or the interval passes.
        rd_kafka_poll(handle_.get(), kPollIntervalMs);
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        awaiting_report_.fetch_sub(1, std::memory_order_relaxed);
        // On failure librdkafka took ownership of nothing: headers and promise are still ours.
        return ready(make_error("cannot queue record for topic " + topic + ": " + kafka_error_text(err),
                                error_kind_of(err)));
    }
    kafka_headers.release();
    promise.release();  // owned by the message; on_delivery takes it back
    return future;
}

Result<DeliveryReport> KafkaProducer::send_and_wait(const std::string& topic,
                                                    const std::optional<std::string>& key,
                                                    std::string_view value,
                                                    const std::vector<Header>& headers,
                                                    std::chrono::milliseconds timeout) {
    auto future = send(topic, key, value, headers);
    if (future.wait_for(timeout) != std::future_status::ready) {
        return make_error("no delivery report for topic " + topic + " within " +
                          std::to_string(timeout.count()) + " ms");
    }
    return future.get();
}

Result<bool> KafkaProducer::flush(std::chrono::milliseconds timeout) {
    const rd_kafka_resp_err_t err = rd_kafka_flush(handle_.get(), static_cast<int>(timeout.count()));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return make_error(std::to_string(pending()) +
                          " record(s) still undelivered after " + std::to_string(timeout.count()) +
                          " ms");
    }
    return true;
}

std::size_t KafkaProducer::pending() const {
    return awaiting_report_.load(std::memory_order_relaxed);
}

std::optional<Error> KafkaProducer::fatal_error() const {
    char errstr[512] = {0};
    const rd_kafka_resp_err_t err = rd_kafka_fatal_error(handle_.get(), errstr, sizeof errstr);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
    return make_error(std::string("fatal Kafka producer error: ") + errstr + " (" +
                      rd_kafka_err2name(err) + ")");
}

Result<std::string> KafkaProducer::cluster_id(std::chrono::milliseconds timeout) {
    // A metadata request waits for a usable broker until the timeout; rd_kafka_clusterid alone
    // cannot tell "no broker" from "a broker without a cluster id".
    const rd_kafka_metadata_t* metadata = nullptr;
    const rd_kafka_resp_err_t err =
        rd_kafka_metadata(handle_.get(), 0, nullptr, &metadata, static_cast<int>(timeout.count()));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return make_error("no broker answered within " + std::to_string(timeout.count()) + " ms (" +
                              kafka_error_text(err) + ")",
                          ErrorKind::Transient);
    }
    rd_kafka_metadata_destroy(metadata);
    char* id = rd_kafka_clusterid(handle_.get(), 0);
    std::string out = id != nullptr ? id : "";
    if (id != nullptr) rd_kafka_mem_free(handle_.get(), id);
    return out;
}

void KafkaProducer::on_delivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* message,
                                void* opaque) {
    std::unique_ptr<DeliveryPromise> promise(static_cast<DeliveryPromise*>(message->_private));
    if (!promise) return;
    static_cast<KafkaProducer*>(opaque)->awaiting_report_.fetch_sub(1, std::memory_order_relaxed);
    try {
        const std::string topic = message->rkt != nullptr ? rd_kafka_topic_name(message->rkt) : "";
        if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            promise->set_value(make_error("delivery to topic " + topic + " failed: " + kafka_error_text(message->err),
                                          error_kind_of(message->err)));
        } else {
            promise->set_value(DeliveryReport{topic, message->partition, message->offset});
        }
    } catch (...) {
        // bad_alloc while building the report: the future then reports a broken promise.
    }
}

void KafkaProducer::on_log(const rd_kafka_t* rk, int level, const char* facility,
                           const char* text) {
    auto* self = static_cast<KafkaProducer*>(rd_kafka_opaque(rk));
    if (self == nullptr || !self->options_.log) return;
    try {
        self->options_.log(level, facility != nullptr ? facility : "", text != nullptr ? text : "");
    } catch (...) {
        // A logging failure must not unwind through librdkafka.
    }
}

void KafkaProducer::on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    auto* self = static_cast<KafkaProducer*>(opaque);
    if (self == nullptr || !self->options_.log) return;
    try {
        const bool fatal = err == RD_KAFKA_RESP_ERR__FATAL;
        std::string text = reason != nullptr ? reason : "";
        if (fatal) {
            char errstr[512] = {0};
            rd_kafka_fatal_error(rk, errstr, sizeof errstr);
            text = std::string("FATAL: ") + errstr;
        }
        // Transport errors are retried by librdkafka itself; they are worth a warning only.
        self->options_.log(fatal ? 2 : 4, "ERROR",
                           text + " (" + rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)) + ")");
    } catch (...) {
    }
}

std::string format_rfc3339_utc(std::int64_t epoch_ms) {
    std::int64_t seconds = epoch_ms / 1000;
    std::int64_t millis = epoch_ms % 1000;
    if (millis < 0) {
        millis += 1000;
        --seconds;
    }
    const auto t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(millis));
    return buf;
}

std::vector<Header> dead_letter_record_headers(const InboundRecord& original,
                                               const DeadLetterInfo& info) {
    namespace h = dead_letter_headers;
    const std::string_view context[] = {h::kErrorCode,      h::kErrorReason,      h::kErrorStage,
                                        h::kSourceTopic,    h::kSourcePartition,  h::kSourceOffset,
                                        h::kAttempts,       h::kFailedAt,         h::kTruncated,
                                        h::kOriginalSize,   h::kOriginalSha256,   h::kOriginalKeySize,
                                        h::kHeadersDropped, h::kApp,              h::kErrorClass,
                                        h::kHttpStatus,     h::kScimType,         h::kFirstFailedAt,
                                        h::kErrorTrail};
    std::vector<Header> out;
    out.reserve(original.headers.size() + std::size(context));
    for (const auto& header : original.headers) {
        bool is_context = false;
        for (const auto name : context) is_context = is_context || header.name == name;
        if (!is_context) out.push_back(header);
    }
    const auto add = [&](std::string_view name, std::string value) {
        out.push_back(Header{std::string(name), std::move(value)});
    };
    add(h::kErrorCode, info.code);
    add(h::kErrorReason, info.reason);
    add(h::kErrorStage, info.stage);
    add(h::kSourceTopic, original.topic);
    add(h::kSourcePartition, std::to_string(original.partition));
    add(h::kSourceOffset, std::to_string(original.offset));
    add(h::kAttempts, std::to_string(info.attempts));
    add(h::kFailedAt, format_rfc3339_utc(info.failed_at_ms));
    if (!info.app.empty()) add(h::kApp, info.app);
    if (!info.error_class.empty()) add(h::kErrorClass, info.error_class);
    if (info.http_status != 0) add(h::kHttpStatus, std::to_string(info.http_status));
    if (!info.scim_type.empty()) add(h::kScimType, info.scim_type);
    if (info.first_failed_at_ms != 0) add(h::kFirstFailedAt, format_rfc3339_utc(info.first_failed_at_ms));
    if (!info.trail.empty()) {
        nlohmann::json trail = nlohmann::json::array();
        for (const auto& f : info.trail) {
            trail.push_back({{"at", format_rfc3339_utc(f.at_ms)},
                             {"code", f.code},
                             {"http_status", f.http_status},
                             {"detail", f.detail}});
        }
        add(h::kErrorTrail, trail.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    }
    return out;
}

std::string sha256_hex(std::string_view bytes) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    // One-shot EVP digest: no context to leak, and SHA-256 cannot fail on valid input.
    if (EVP_Digest(bytes.data(), bytes.size(), digest, &size, EVP_sha256(), nullptr) != 1) return {};
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(size * 2);
    for (unsigned int i = 0; i < size; ++i) {
        out += kHex[digest[i] >> 4];
        out += kHex[digest[i] & 0xF];
    }
    return out;
}

DeadLetterRecord truncated_dead_letter(const InboundRecord& original, const DeadLetterInfo& info,
                                       const TruncationLimits& limits) {
    namespace h = dead_letter_headers;
    InboundRecord kept = original;
    kept.headers.clear();
    std::size_t header_budget = limits.header_bytes;
    std::size_t dropped = 0;
    for (const auto& header : original.headers) {
        const std::size_t size = header.name.size() + header.value.size();
        if (dropped == 0 && size <= header_budget) {
            kept.headers.push_back(header);
            header_budget -= size;
        } else {
            ++dropped;  // once one is left out, so are the rest: the kept ones stay a prefix
        }
    }
    DeadLetterInfo why = info;
    if (why.reason.size() > limits.reason_bytes) why.reason.resize(limits.reason_bytes);

    DeadLetterRecord out;
    out.headers = dead_letter_record_headers(kept, why);
    out.headers.push_back(Header{std::string(h::kTruncated), "true"});
    out.headers.push_back(Header{std::string(h::kOriginalSize), std::to_string(original.value.size())});
    out.headers.push_back(Header{std::string(h::kOriginalSha256), sha256_hex(original.value)});
    if (original.key && original.key->size() > limits.key_bytes) {
        out.key = original.key->substr(0, limits.key_bytes);
        out.headers.push_back(Header{std::string(h::kOriginalKeySize), std::to_string(original.key->size())});
    } else {
        out.key = original.key;
    }
    if (dropped > 0) out.headers.push_back(Header{std::string(h::kHeadersDropped), std::to_string(dropped)});
    out.value = original.value.substr(0, std::min(limits.value_bytes, original.value.size()));
    return out;
}

DeadLetterPublisher::DeadLetterPublisher(KafkaProducer& producer, std::string topic,
                                         std::chrono::milliseconds timeout, TruncationLimits limits)
    : producer_(producer), topic_(std::move(topic)), timeout_(timeout), limits_(limits) {}

Result<DeliveryReport> DeadLetterPublisher::send(const DeadLetterRecord& record) {
    return producer_.send_and_wait(topic_, record.key, record.value, record.headers, timeout_);
}

Result<DeliveryReport> DeadLetterPublisher::publish_with_report(const InboundRecord& original,
                                                                const DeadLetterInfo& info) {
    auto report = producer_.send_and_wait(topic_, original.key, original.value,
                                          dead_letter_record_headers(original, info), timeout_);
    if (!report && report.error().kind == ErrorKind::TooLarge) {
        // The producer's or the topic's limit: the first bytes, the size and the digest still
        // say what the record was, and the next one of its partition is not held up.
        report = send(truncated_dead_letter(original, info, limits_));
        if (!report && report.error().kind == ErrorKind::TooLarge) {
            report = send(truncated_dead_letter(original, info, TruncationLimits{0, 0, 0, 256}));
        }
        if (report) truncated_.fetch_add(1, std::memory_order_relaxed);
    }
    if (!report) {
        return make_error("dead-letter write for " + original.topic + "/" +
                              std::to_string(original.partition) + "@" + std::to_string(original.offset) +
                              " not confirmed: " + report.error().message,
                          report.error().kind);
    }
    return report;
}

Result<bool> DeadLetterPublisher::publish(const InboundRecord& original,
                                          const DeadLetterReason& reason) {
    auto report = publish_with_report(original, reason);
    if (!report) return report.error();
    return true;
}

}  // namespace provbridge::producers
