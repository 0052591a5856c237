#include "provbridge/core/state_store.hpp"

#include <array>
#include <utility>

namespace provbridge {
namespace {

// The names are stored in parked events: renaming one strands what is parked under it.
constexpr std::array<std::pair<DeletionMark, std::string_view>, 5> kMarks{{
    {DeletionMark::None, "none"},
    {DeletionMark::Staged, "staged"},
    {DeletionMark::Allowed, "allowed"},
    {DeletionMark::Discarded, "discarded"},
    {DeletionMark::Counted, "counted"},
}};

}  // namespace

std::string_view to_string(DeletionMark mark) {
    for (const auto& [value, name] : kMarks) {
        if (value == mark) return name;
    }
    return kMarks[0].second;
}

std::optional<DeletionMark> deletion_mark_from_string(std::string_view s) {
    for (const auto& [value, name] : kMarks) {
        if (name == s) return value;
    }
    return std::nullopt;
}

}  // namespace provbridge
