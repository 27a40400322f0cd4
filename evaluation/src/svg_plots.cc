#include "svg_plots.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

namespace evax::evaluation {
namespace {

// Plot geometry: a square plot area with room for the axes' ticks and titles.
constexpr double kLeft = 46, kTop = 26, kSide = 220, kWidth = kLeft + kSide + 14, kHeight = kTop + kSide + 42;

double x_of(double v) { return kLeft + v * kSide; }
double y_of(double v) { return kTop + (1.0 - v) * kSide; }

std::string number(double v, const char* format = "%.2f") {
  char text[32];
  std::snprintf(text, sizeof text, format, v);
  return text;
}

std::string point(double x, double y) { return number(x_of(x)) + "," + number(y_of(y)); }

// The frame, grid, ticks and axis titles shared by both plots.
std::string axes(const std::string& x_title, const std::string& y_title) {
  std::string out = "<rect x=\"" + number(kLeft) + "\" y=\"" + number(kTop) + "\" width=\"" + number(kSide) + "\" height=\"" +
                    number(kSide) + "\" fill=\"#fff\" stroke=\"#444\"/>";
  for (int i = 0; i <= 5; ++i) {
    const double v = i / 5.0;
    if (i > 0 && i < 5) {
      out += "<line class=\"grid\" x1=\"" + number(x_of(v)) + "\" y1=\"" + number(y_of(0)) + "\" x2=\"" + number(x_of(v)) +
             "\" y2=\"" + number(y_of(1)) + "\" stroke=\"#e3e3e3\"/>";
      out += "<line class=\"grid\" x1=\"" + number(x_of(0)) + "\" y1=\"" + number(y_of(v)) + "\" x2=\"" + number(x_of(1)) +
             "\" y2=\"" + number(y_of(v)) + "\" stroke=\"#e3e3e3\"/>";
    }
    out += "<text x=\"" + number(x_of(v)) + "\" y=\"" + number(y_of(0) + 14) + "\" text-anchor=\"middle\">" + number(v, "%.1f") + "</text>";
    out += "<text x=\"" + number(x_of(0) - 5) + "\" y=\"" + number(y_of(v) + 4) + "\" text-anchor=\"end\">" + number(v, "%.1f") + "</text>";
  }
  out += "<text x=\"" + number(x_of(0.5)) + "\" y=\"" + number(y_of(0) + 32) + "\" text-anchor=\"middle\">" + x_title + "</text>";
  out += "<text transform=\"translate(12," + number(y_of(0.5)) + ") rotate(-90)\" text-anchor=\"middle\">" + y_title + "</text>";
  out += "<line class=\"diagonal\" x1=\"" + number(x_of(0)) + "\" y1=\"" + number(y_of(0)) + "\" x2=\"" + number(x_of(1)) + "\" y2=\"" +
         number(y_of(1)) + "\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>";
  return out;
}

std::string open_svg(const char* css_class, const std::string& title) {
  return std::string("<svg class=\"") + css_class + "\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" + number(kWidth, "%.0f") +
         "\" height=\"" + number(kHeight, "%.0f") + "\" viewBox=\"0 0 " + number(kWidth, "%.0f") + " " + number(kHeight, "%.0f") +
         "\" font-family=\"sans-serif\" font-size=\"10\" role=\"img\"><title>" + title + "</title>" + "<text x=\"" + number(kLeft) +
         "\" y=\"16\" font-size=\"12\" font-weight=\"bold\">" + title + "</text>";
}

std::string marker(const ThresholdMetrics& m, const char* css_class, bool diamond, const char* colour) {
  if (!m.sensitivity || !m.specificity) return "";
  const double x = x_of(1.0 - *m.specificity), y = y_of(*m.sensitivity);
  std::string shape = diamond ? "<path d=\"M" + number(x) + "," + number(y - 6) + " l6,6 l-6,6 l-6,-6 z\""
                              : "<circle cx=\"" + number(x) + "\" cy=\"" + number(y) + "\" r=\"5\"";
  return "<g class=\"" + std::string(css_class) + "\">" + shape + " fill=\"" + colour + "\" stroke=\"#222\"><title>threshold " +
         number(m.threshold, "%.4g") + "</title>" + (diamond ? "</path>" : "</circle>") + "</g>";
}

}  // namespace

std::string escape_html(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

std::string roc_svg(const FindingReport& f) {
  if (f.roc.empty()) return "";
  // Keep a point only where the curve turns (scikit-learn's drop_intermediate rule).
  std::vector<const RocPoint*> corners;
  for (std::size_t i = 0; i < f.roc.size(); ++i) {
    const bool end = i == 0 || i + 1 == f.roc.size();
    const RocPoint &a = f.roc[i > 0 ? i - 1 : 0], &b = f.roc[i], &c = f.roc[i + 1 < f.roc.size() ? i + 1 : i];
    const bool turns = (b.false_positive_rate - a.false_positive_rate) * (c.true_positive_rate - b.true_positive_rate) !=
                       (b.true_positive_rate - a.true_positive_rate) * (c.false_positive_rate - b.false_positive_rate);
    if (end || turns) corners.push_back(&b);
  }
  std::string points;
  for (const RocPoint* p : corners) points += (points.empty() ? "" : " ") + point(p->false_positive_rate, p->true_positive_rate);
  std::string title = "ROC: " + escape_html(f.label);
  if (f.auroc) title += ", AUROC " + number(*f.auroc, "%.3f");
  std::string out = open_svg("roc-curve", title);
  out += axes("1 - specificity", "sensitivity");
  out += "<polyline class=\"roc\" points=\"" + points + "\" fill=\"none\" stroke=\"#1f5fa8\" stroke-width=\"2\"/>";
  if (f.at_operating_point) out += marker(*f.at_operating_point, "operating-point", false, "#e0a030");
  if (f.for_target_sensitivity && f.for_target_sensitivity->at) out += marker(*f.for_target_sensitivity->at, "recommended-point", true, "#3a9a4a");
  if (f.for_target_specificity && f.for_target_specificity->at) out += marker(*f.for_target_specificity->at, "recommended-point", true, "#9a3a8a");
  return out + "</svg>";
}

std::string reliability_svg(const FindingReport& f) {
  if (f.cases == 0) return "";
  std::string title = "Calibration: " + escape_html(f.label);
  if (f.ece) title += ", ECE " + number(*f.ece, "%.3f");
  std::string out = open_svg("reliability-diagram", title);
  out += axes("mean predicted probability", "observed rate");
  std::size_t largest = 0;
  for (const ReliabilityBin& b : f.reliability) largest = std::max(largest, b.count);
  std::string points;
  for (const ReliabilityBin& b : f.reliability) {
    // Each bin's share of cases as a bar (at most a fifth of the plot high) along the bottom.
    const double height = 0.2 * static_cast<double>(b.count) / static_cast<double>(std::max<std::size_t>(largest, 1));
    if (b.count > 0) {
      out += "<rect class=\"bin-count\" x=\"" + number(x_of(b.lower) + 1) + "\" y=\"" + number(y_of(height)) + "\" width=\"" +
             number((b.upper - b.lower) * kSide - 2) + "\" height=\"" + number(height * kSide) +
             "\" fill=\"#c9d8ea\"><title>" + std::to_string(b.count) + " cases</title></rect>";
    }
    if (b.mean_score && b.observed_rate) points += (points.empty() ? "" : " ") + point(*b.mean_score, *b.observed_rate);
  }
  out += "<polyline class=\"reliability\" points=\"" + points + "\" fill=\"none\" stroke=\"#b04020\" stroke-width=\"2\"/>";
  for (const ReliabilityBin& b : f.reliability) {
    if (!b.mean_score || !b.observed_rate) continue;
    out += "<circle class=\"bin\" cx=\"" + number(x_of(*b.mean_score)) + "\" cy=\"" + number(y_of(*b.observed_rate)) +
           "\" r=\"3.5\" fill=\"#b04020\"/>";
  }
  return out + "</svg>";
}

}  // namespace evax::evaluation
