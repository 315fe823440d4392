// The trace generator's phrasebook: for each of the 16 intents (shared/data/intent/LABELS.md),
// a few question kinds; for each kind, paraphrases in English, Japanese and mixed script that
// all have the same correct answer (a paraphrase family: one canonical_id), with slots:
//   {t} the title (English title, a Japanese-script title, or the Latin title in a mixed line)
//   {v} a volume number   {o} an order number   {g} a genre (English)   {gj} the genre in Japanese
// Which slots a kind declares decides what its canonical_id carries (title id, volume, order,
// genre, user): "Is One Piece vol 105 in stock?" and "… vol 106 …" differ; "is it finished" and
// "is it ongoing" are different kinds. Written for this project. Immutable; thread-safe.
#pragma once

#include <string_view>
#include <vector>

namespace mangaassist::replay {

struct PhraseKind {
  std::string_view intent;
  std::string_view kind;  // canonical_id prefix
  bool title = false;     // {t}
  bool volume = false;    // {v}
  bool order = false;     // {o}
  bool genre = false;     // {g} / {gj}
  bool per_user = false;  // the answer depends on the asking user (their pre-order, their card)
  std::vector<std::string_view> en, ja, mixed;
};

const std::vector<PhraseKind>& Phrasebook();

// Genres offered to {g}/{gj}: English and Japanese names.
struct Genre {
  std::string_view en, ja;
};
const std::vector<Genre>& PhraseGenres();

}  // namespace mangaassist::replay
