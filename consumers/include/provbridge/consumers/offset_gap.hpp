#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "provbridge/core/event.hpp"
#include "provbridge/core/result.hpp"

namespace provbridge::consumers {

// Offsets a consumer group was to read that the broker no longer holds: retention (or the
// embedded broker's 5 MB cap per partition) removed them before the group got there, and
// auto.offset.reset=earliest carried on from the log start. Those events are never provisioned
// unless the source sends them again.
struct OffsetGap {
    // Where the group was to continue: its committed offset when the partition was assigned, or
    // the offset after the last record it received.
    std::int64_t committed = 0;
    std::int64_t log_start = 0;  // the first offset the broker still held
    std::int64_t lost = 0;       // log_start - committed: offsets nobody in the group read
    bool operator==(const OffsetGap&) const = default;
};

// Whether a partition that was to continue at `expected` and delivered `delivered` next has
// skipped offsets that are gone from the log, given the log start the broker reported with (or
// after) that record. A jump that stays at or above the log start (transaction markers,
// compaction) is not a gap, and neither is anything with an unknown (negative) input, such as
// librdkafka's "no committed offset". Offsets from the log start up to `delivered` are still in
// the log (control records, compacted keys), so the gap ends at the smaller of the two.
std::optional<OffsetGap> find_offset_gap(std::int64_t expected, std::int64_t delivered, std::int64_t log_start);

// Told about every gap a KafkaConsumer finds. Runs on the thread that polls the consumer,
// before the first record after the gap is handed out; the consumer has already logged it.
class GapListener {
public:
    virtual ~GapListener() = default;
    virtual void on_offset_gap(const std::string& group, const TopicPartition& partition, const OffsetGap& gap) = 0;
};

// A partition's gaps as they are kept for operators (Redis hash KeyScheme::offset_gaps(), one
// field per partition): the latest gap, and what all of the partition's gaps add up to.
struct OffsetGapRecord {
    std::string topic;
    std::int32_t partition = 0;
    std::string group;
    OffsetGap gap;                        // the latest
    std::int64_t detected_at_ms = 0;      // of the latest
    std::int64_t gaps = 1;                // recorded for this partition so far
    std::int64_t total_lost = 0;          // their lost offsets together
    std::int64_t first_detected_at_ms = 0;
    // Only from the readers: why a stored value could not be read (the rest is then default,
    // but topic and partition come from the field name when it has the usual form).
    std::string decode_error;
};

// The hash field of a partition: "<topic>/<partition>" (Kafka topic names cannot hold '/').
std::string offset_gap_field(const TopicPartition& partition);
// The JSON document of one newly found gap, without the totals (gaps, total_lost,
// first_detected_at_ms), which the store carries forward from the partition's previous value.
std::string encode_new_offset_gap(const std::string& group, const TopicPartition& partition, const OffsetGap& gap,
                                  std::int64_t detected_at_ms);
// Never throws: a value that is not one of ours comes back as an Error naming the field.
Result<OffsetGapRecord> decode_offset_gap(std::string_view field, std::string_view text);
// What a listing shows for a value decode_offset_gap refused: the error, and where it is.
OffsetGapRecord undecodable_offset_gap(std::string_view field, const Error& error);

}  // namespace provbridge::consumers
