// The report's two plots as inline SVG: a finding's ROC curve (with its operating points marked)
// and its reliability diagram. Internal to the evaluation module; pure functions. Text in the
// output is escaped (labels come from label files).
#pragma once

#include <string>

#include "evax/evaluation/evaluation.h"

namespace evax::evaluation {

// HTML/XML text with &, <, >, " escaped.
std::string escape_html(const std::string& text);

// `<svg class="roc-curve" ...>`: the curve's corners (collinear points dropped, which leaves the
// drawn curve unchanged), the chance diagonal, a dot for the configured operating point and
// diamonds for the recommended ones. Empty when the finding has no ROC curve.
std::string roc_svg(const FindingReport& finding);

// `<svg class="reliability-diagram" ...>`: observed rate against mean score per non-empty bin,
// the diagonal of perfect calibration, and each bin's share of cases as a bar along the bottom.
// Empty when the finding has no cases.
std::string reliability_svg(const FindingReport& finding);

}  // namespace evax::evaluation
