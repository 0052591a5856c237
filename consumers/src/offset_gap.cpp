#include "provbridge/consumers/offset_gap.hpp"

#include <algorithm>
#include <charconv>
#include <exception>

#include <nlohmann/json.hpp>

#include "provbridge/core/json_util.hpp"

namespace provbridge::consumers {
namespace {

using nlohmann::json;

constexpr int kGapFormat = 1;

// Topic and partition from a field of the usual form, so even an unreadable value says where.
void locate(std::string_view field, OffsetGapRecord& record) {
    const auto slash = field.rfind('/');
    if (slash == std::string_view::npos) return;
    std::int32_t partition = 0;
    const auto digits = field.substr(slash + 1);
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), partition);
    if (ec != std::errc() || end != digits.data() + digits.size()) return;
    record.topic = std::string(field.substr(0, slash));
    record.partition = partition;
}

}  // namespace

std::optional<OffsetGap> find_offset_gap(std::int64_t expected, std::int64_t delivered, std::int64_t log_start) {
    if (expected < 0 || delivered < 0 || log_start < 0) return std::nullopt;
    if (delivered <= expected || log_start <= expected) return std::nullopt;
    const std::int64_t start = std::min(log_start, delivered);
    return OffsetGap{expected, start, start - expected};
}

std::string offset_gap_field(const TopicPartition& partition) {
    return partition.topic + "/" + std::to_string(partition.partition);
}

std::string encode_new_offset_gap(const std::string& group, const TopicPartition& partition, const OffsetGap& gap,
                                  std::int64_t detected_at_ms) {
    return json{{"format", kGapFormat},
                {"topic", partition.topic},
                {"partition", partition.partition},
                {"group", group},
                {"committed", gap.committed},
                {"log_start", gap.log_start},
                {"lost", gap.lost},
                {"detected_at_ms", detected_at_ms}}
        .dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<OffsetGapRecord> decode_offset_gap(std::string_view field, std::string_view text) {
    const auto corrupt = [&](const std::string& why) {
        return make_error("corrupt offset gap at field " + std::string(field) + ": " + why, ErrorKind::Permanent);
    };
    auto parsed = parse_json(text);
    if (!parsed) return corrupt(parsed.error().message);
    const json& doc = *parsed;
    if (!doc.is_object()) return corrupt("not an object");
    const auto format = doc.find("format");
    if (format == doc.end() || !format->is_number_integer() || format->get<int>() != kGapFormat) {
        return corrupt("unknown format " + (format == doc.end() ? std::string("(none)") : format->dump()));
    }
    // Stored data must not turn into an exception: every shape nlohmann throws on ends here.
    try {
        OffsetGapRecord record;
        record.topic = doc.at("topic").get<std::string>();
        record.partition = doc.at("partition").get<std::int32_t>();
        record.group = doc.at("group").get<std::string>();
        record.gap.committed = doc.at("committed").get<std::int64_t>();
        record.gap.log_start = doc.at("log_start").get<std::int64_t>();
        record.gap.lost = doc.at("lost").get<std::int64_t>();
        record.detected_at_ms = doc.at("detected_at_ms").get<std::int64_t>();
        // The totals are added by the store; a value written without them is a first gap.
        record.gaps = doc.value("gaps", std::int64_t{1});
        record.total_lost = doc.value("total_lost", record.gap.lost);
        record.first_detected_at_ms = doc.value("first_detected_at_ms", record.detected_at_ms);
        return record;
    } catch (const std::exception& e) {
        return corrupt(e.what());
    }
}

OffsetGapRecord undecodable_offset_gap(std::string_view field, const Error& error) {
    OffsetGapRecord record;
    locate(field, record);
    record.decode_error = error.message;
    return record;
}

}  // namespace provbridge::consumers
