// report_html(): the report as one self-contained page a clinical lead reads: what was evaluated,
// a table of every finding's numbers, the plots and confusion counts per finding, and how the
// numbers were computed. No script and nothing fetched, so it opens from a file or an email.
#include <cmath>
#include <cstdio>

#include "evax/evaluation/evaluation.h"
#include "svg_plots.h"

namespace evax::evaluation {
namespace {

constexpr const char* kStyle = R"(
body { font-family: sans-serif; margin: 24px; color: #222; max-width: 1200px; }
h1 { margin-bottom: 4px; }
.demo { background: #c62828; color: #fff; font-weight: bold; padding: 10px 14px; margin: 12px 0; }
table { border-collapse: collapse; margin: 8px 0 18px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; font-size: 13px; }
th { background: #eef2f7; }
td.text, th.text { text-align: left; }
table.summary th { text-align: left; }
.undefined { color: #999; }
.finding { border-top: 1px solid #ccc; padding-top: 8px; margin-top: 14px; }
.plots { display: flex; gap: 16px; flex-wrap: wrap; align-items: flex-start; }
.note { color: #555; font-size: 13px; }
.mono { font-family: monospace; }
)";

std::string number(double v, const char* format = "%.3f") {
  char text[32];
  std::snprintf(text, sizeof text, format, v);
  return text;
}

std::string cell(const std::optional<double>& v) {
  return v ? "<td>" + number(*v) + "</td>" : "<td class=\"undefined\">n/a</td>";
}

std::string text_cell(const std::string& text) { return "<td class=\"text\">" + escape_html(text) + "</td>"; }

std::string auroc_cell(const FindingReport& f) {
  if (!f.auroc) return "<td class=\"undefined\" title=\"" + escape_html(f.auroc_note) + "\">undefined</td>";
  std::string text = number(*f.auroc);
  if (f.ci_lower && f.ci_upper) {
    text += " (" + number(*f.ci_lower) + "&ndash;" + number(*f.ci_upper) + ")";
  } else {
    text += " (no CI)";
  }
  return "<td>" + text + "</td>";
}

std::string counts_cells(const ConfusionCounts& c) {
  return "<td>" + std::to_string(c.true_positives) + "</td><td>" + std::to_string(c.false_positives) + "</td><td>" +
         std::to_string(c.true_negatives) + "</td><td>" + std::to_string(c.false_negatives) + "</td>";
}

std::string metric_cells(const std::optional<ThresholdMetrics>& m) {
  if (!m) return "<td class=\"undefined\" colspan=\"9\">no operating point configured</td>";
  return "<td>" + number(m->threshold, "%.4g") + "</td>" + counts_cells(m->counts) + cell(m->sensitivity) + cell(m->specificity) +
         cell(m->ppv) + cell(m->npv);
}

std::string summary(const EvaluationReport& r) {
  std::string mean = std::isnan(r.mean_auroc) ? "undefined (no finding has both positive and negative cases)"
                                              : number(r.mean_auroc) + " over " + std::to_string(r.mean_auroc_findings) + " findings";
  if (!r.left_out_of_mean.empty()) {
    mean += "; left out (AUROC undefined): ";
    for (std::size_t i = 0; i < r.left_out_of_mean.size(); ++i) mean += (i ? ", " : "") + escape_html(r.left_out_of_mean[i]);
  }
  std::string out = "<table class=\"summary\">";
  out += "<tr><th>Model</th>" + text_cell(r.model_name) + "</tr>";
  out += "<tr><th>Checkpoint</th>" + text_cell(r.checkpoint) + "</tr>";
  out += "<tr><th>Checkpoint SHA-256</th><td class=\"text mono\">" + escape_html(r.checkpoint_sha256) + "</td></tr>";
  out += "<tr><th>Dataset</th>" + text_cell(r.dataset_name) + "</tr>";
  out += "<tr><th>Images</th><td class=\"text\">" + std::to_string(r.images) + "</td></tr>";
  out += "<tr><th>Mean AUROC</th><td class=\"text\" id=\"mean-auroc\">" + mean + "</td></tr>";
  return out + "</table>";
}

std::string findings_table(const EvaluationReport& r) {
  std::string out =
      "<table class=\"findings\"><tr><th class=\"text\">Finding</th><th>Cases</th><th>Positives</th><th>Prevalence</th>"
      "<th>AUROC (95% CI)</th><th>Threshold</th><th>TP</th><th>FP</th><th>TN</th><th>FN</th><th>Sensitivity</th>"
      "<th>Specificity</th><th>PPV</th><th>NPV</th><th>ECE</th></tr>";
  for (const FindingReport& f : r.findings) {
    out += "<tr>" + text_cell(f.label) + "<td>" + std::to_string(f.cases) + "</td><td>" + std::to_string(f.positives) + "</td><td>" +
           number(100.0 * f.prevalence, "%.1f") + " %</td>" + auroc_cell(f) + metric_cells(f.at_operating_point) + cell(f.ece) + "</tr>";
  }
  return out + "</table>";
}

std::string recommendation_rows(const FindingReport& f, const std::optional<Recommendation>& r, const char* what) {
  if (!r) return "";
  std::string out = "<tr>" + text_cell(f.label) + "<td class=\"text\">" + what + " &ge; " + number(r->target, "%.3g") + "</td>";
  if (!r->at) return out + "<td class=\"undefined text\" colspan=\"9\">" + escape_html(r->unavailable_reason) + "</td></tr>";
  return out + metric_cells(r->at) + "</tr>";
}

std::string recommendations_table(const EvaluationReport& r) {
  if (!r.target_sensitivity && !r.target_specificity) return "";
  std::string out =
      "<h2>Recommended operating points</h2><p class=\"note\">For a target sensitivity, the highest threshold that reaches it; for a "
      "target specificity, the lowest. Measured on this dataset: confirm on data the thresholds were not chosen on.</p>"
      "<table class=\"recommended\"><tr><th class=\"text\">Finding</th><th class=\"text\">Target</th><th>Threshold</th><th>TP</th>"
      "<th>FP</th><th>TN</th><th>FN</th><th>Sensitivity</th><th>Specificity</th><th>PPV</th><th>NPV</th></tr>";
  for (const FindingReport& f : r.findings) {
    out += recommendation_rows(f, f.for_target_sensitivity, "sensitivity");
    out += recommendation_rows(f, f.for_target_specificity, "specificity");
  }
  return out + "</table>";
}

std::string confusion_table(const ThresholdMetrics& m) {
  const ConfusionCounts& c = m.counts;
  return "<table class=\"confusion\"><tr><th class=\"text\">At threshold " + number(m.threshold, "%.4g") +
         "</th><th>Truth positive</th><th>Truth negative</th></tr><tr><th class=\"text\">Called positive</th><td>" +
         std::to_string(c.true_positives) + " (TP)</td><td>" + std::to_string(c.false_positives) +
         " (FP)</td></tr><tr><th class=\"text\">Called negative</th><td>" + std::to_string(c.false_negatives) + " (FN)</td><td>" +
         std::to_string(c.true_negatives) + " (TN)</td></tr></table>";
}

std::string finding_section(const FindingReport& f) {
  std::string out = "<section class=\"finding\"><h3>" + escape_html(f.label) + "</h3>";
  out += "<p class=\"note\">" + std::to_string(f.positives) + " positive and " + std::to_string(f.negatives) + " negative cases";
  if (!f.auroc_note.empty()) out += "; " + escape_html(f.auroc_note);
  out += ".</p><div class=\"plots\">" + roc_svg(f) + reliability_svg(f);
  if (f.at_operating_point) out += "<div>" + confusion_table(*f.at_operating_point) + "</div>";
  out += "</div>";
  if (f.roc.empty()) return out + "</section>";
  // What the ROC curve's markers are, with their thresholds.
  std::string legend;
  const auto add = [&](const std::string& marker, const std::optional<ThresholdMetrics>& m, const std::string& what) {
    if (m) legend += (legend.empty() ? "" : "; ") + marker + " " + what + " (threshold " + number(m->threshold, "%.4g") + ")";
  };
  add("<span style=\"color:#e0a030\">&#9679;</span>", f.at_operating_point, "configured operating point");
  if (f.for_target_sensitivity) add("<span style=\"color:#3a9a4a\">&#9670;</span>", f.for_target_sensitivity->at, "sensitivity &ge; " + number(f.for_target_sensitivity->target, "%.3g"));
  if (f.for_target_specificity) add("<span style=\"color:#9a3a8a\">&#9670;</span>", f.for_target_specificity->at, "specificity &ge; " + number(f.for_target_specificity->target, "%.3g"));
  if (!legend.empty()) out += "<p class=\"note legend\">" + legend + "</p>";
  return out + "</section>";
}

std::string methods(const EvaluationReport& r) {
  return "<h2>Methods</h2><ul class=\"note\">"
         "<li>AUROC: the Mann-Whitney statistic, ties counted one half (equal to scikit-learn's roc_auc_score).</li>"
         "<li>95% CI: DeLong et al. (1988), computed with the fast algorithm of Sun &amp; Xu (2014): AUROC &plusmn; 1.96 "
         "standard errors, clipped to [0, 1]; not given with fewer than two positive or two negative cases.</li>"
         "<li>Mean AUROC: the unweighted mean over findings with both positive and negative cases.</li>"
         "<li>An image counts as positive for a finding when its probability is at or above the threshold, as the node decides.</li>"
         "<li>Calibration: " + std::to_string(r.calibration_bins) +
         " equal-width probability bins; ECE is the case-weighted mean gap between observed rate and mean probability. "
         "The bars show each bin's share of cases.</li>"
         "<li>Markers on the ROC curves: circle, the configured operating point; diamonds, the recommended ones.</li></ul>";
}

}  // namespace

std::string report_html(const EvaluationReport& r) {
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Evaluation of " + escape_html(r.model_name) +
                    " on " + escape_html(r.dataset_name) + "</title><style>" + kStyle + "</style></head><body>";
  out += "<h1>Evaluation of " + escape_html(r.model_name) + "</h1>";
  if (r.demo_weights) {
    out += "<div class=\"demo\" id=\"demo-warning\">DEMO MODEL - UNTRAINED WEIGHTS: these numbers say nothing about clinical "
           "performance.</div>";
  }
  out += summary(r) + "<h2>Findings</h2>" + findings_table(r) + recommendations_table(r) + "<h2>Per finding</h2>";
  for (const FindingReport& f : r.findings) out += finding_section(f);
  return out + methods(r) + "</body></html>\n";
}

}  // namespace evax::evaluation
