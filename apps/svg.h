// apps/svg.h — minimal SVG charts for training reports: a grid of histograms and an x–y line plot.
// Plain text output, no dependency; open the files in any browser.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"

namespace tern {

struct HistogramPanel {
    std::string title;
    std::vector<float> values;
    std::vector<double> markers;  // vertical lines (e.g. ±√n/n)
};

// Panels in a grid, `cols` per row; each histogram has `bins` bins over [min, max] of its own values.
inline void write_histogram_grid(const std::string& path, const std::string& title,
                                 const std::vector<HistogramPanel>& panels, int cols = 4, int bins = 60) {
    const int pw = 260, ph = 170, pad = 30;
    const int rows = int((panels.size() + cols - 1) / cols);
    std::ostringstream s;
    s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << cols * pw << "' height='" << rows * ph + 40
      << "' font-family='sans-serif' font-size='11'>\n<rect width='100%' height='100%' fill='white'/>\n"
      << "<text x='10' y='22' font-size='15'>" << title << "</text>\n";
    for (size_t k = 0; k < panels.size(); ++k) {
        const HistogramPanel& p = panels[k];
        const int x0 = int(k % size_t(cols)) * pw, y0 = 40 + int(k / size_t(cols)) * ph;
        if (p.values.empty()) continue;
        float lo = *std::min_element(p.values.begin(), p.values.end());
        float hi = *std::max_element(p.values.begin(), p.values.end());
        for (double m : p.markers) lo = std::min(lo, float(m)), hi = std::max(hi, float(m));
        if (hi <= lo) hi = lo + 1;
        std::vector<int> h(size_t(bins), 0);
        for (float v : p.values) h[size_t(std::min(bins - 1, int((v - lo) / (hi - lo) * bins)))]++;
        const int hmax = std::max(1, *std::max_element(h.begin(), h.end()));
        const double bw = double(pw - 2 * pad) / bins, H = ph - 2 * pad;
        s << "<text x='" << x0 + pad << "' y='" << y0 + 16 << "'>" << p.title << "</text>\n";
        for (int b = 0; b < bins; ++b) {
            const double bh = H * h[size_t(b)] / hmax;
            s << "<rect x='" << x0 + pad + b * bw << "' y='" << y0 + pad + H - bh << "' width='" << bw * 0.95
              << "' height='" << bh << "' fill='#4a78b5'/>\n";
        }
        for (double m : p.markers) {
            const double x = x0 + pad + (m - lo) / (hi - lo) * (pw - 2 * pad);
            s << "<line x1='" << x << "' x2='" << x << "' y1='" << y0 + pad << "' y2='" << y0 + pad + H
              << "' stroke='#d33' stroke-dasharray='3,2'/>\n";
        }
        s << "<text x='" << x0 + pad << "' y='" << y0 + ph - 8 << "'>" << lo << "</text><text x='" << x0 + pw - pad - 40
          << "' y='" << y0 + ph - 8 << "'>" << hi << "</text>\n";
    }
    s << "</svg>\n";
    std::ofstream out(path);
    TERN_CHECK(out, "cannot write " << path);
    out << s.str();
}

struct Series {
    std::string label;
    std::vector<std::pair<double, double>> points;
};

// A line plot with markers, one colour per series; axis labels and a legend.
inline void write_line_plot(const std::string& path, const std::string& title, const std::string& xlabel,
                            const std::string& ylabel, const std::vector<Series>& series) {
    const int W = 640, Hh = 420, L = 70, R = 160, T = 40, B = 50;
    double xmin = 1e300, xmax = -1e300, ymin = 1e300, ymax = -1e300;
    for (const Series& se : series)
        for (auto [x, y] : se.points) xmin = std::min(xmin, x), xmax = std::max(xmax, x), ymin = std::min(ymin, y),
                                      ymax = std::max(ymax, y);
    if (xmax <= xmin) xmax = xmin + 1;
    if (ymax <= ymin) ymax = ymin + 1;
    const double yr = ymax - ymin;
    ymin -= 0.1 * yr, ymax += 0.1 * yr;
    auto X = [&](double x) { return L + (x - xmin) / (xmax - xmin) * (W - L - R); };
    auto Y = [&](double y) { return T + (ymax - y) / (ymax - ymin) * (Hh - T - B); };
    const char* colors[] = {"#4a78b5", "#d33", "#2a2", "#a4a", "#e80"};
    std::ostringstream s;
    s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << Hh
      << "' font-family='sans-serif' font-size='12'>\n<rect width='100%' height='100%' fill='white'/>\n"
      << "<text x='" << L << "' y='24' font-size='15'>" << title << "</text>\n"
      << "<line x1='" << L << "' y1='" << Hh - B << "' x2='" << W - R << "' y2='" << Hh - B << "' stroke='black'/>\n"
      << "<line x1='" << L << "' y1='" << T << "' x2='" << L << "' y2='" << Hh - B << "' stroke='black'/>\n"
      << "<text x='" << (L + W - R) / 2 << "' y='" << Hh - 12 << "'>" << xlabel << "</text>\n"
      << "<text x='14' y='" << (T + Hh - B) / 2 << "' transform='rotate(-90 14 " << (T + Hh - B) / 2 << ")'>"
      << ylabel << "</text>\n";
    for (int i = 0; i <= 4; ++i) {
        const double xv = xmin + (xmax - xmin) * i / 4, yv = ymin + (ymax - ymin) * i / 4;
        s << "<text x='" << X(xv) - 10 << "' y='" << Hh - B + 16 << "'>" << std::round(xv * 10) / 10 << "</text>\n"
          << "<text x='" << L - 45 << "' y='" << Y(yv) + 4 << "'>" << std::round(yv * 100) / 100 << "</text>\n";
    }
    for (size_t k = 0; k < series.size(); ++k) {
        const Series& se = series[k];
        const char* c = colors[k % 5];
        std::ostringstream pts;
        for (auto [x, y] : se.points) {
            pts << X(x) << "," << Y(y) << " ";
            s << "<circle cx='" << X(x) << "' cy='" << Y(y) << "' r='4' fill='" << c << "'/>\n";
        }
        s << "<polyline points='" << pts.str() << "' fill='none' stroke='" << c << "'/>\n"
          << "<text x='" << W - R + 10 << "' y='" << T + 18 * (k + 1) << "' fill='" << c << "'>" << se.label
          << "</text>\n";
    }
    s << "</svg>\n";
    std::ofstream out(path);
    TERN_CHECK(out, "cannot write " << path);
    out << s.str();
}

}  // namespace tern
