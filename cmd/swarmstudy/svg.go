package main

import (
	"bytes"
	"fmt"
	"html"
	"math"
)

// series is one line of a chart.
type series struct {
	Name string
	Y    []float64 // one value per x; NaN leaves a gap
}

// chart is a line chart drawn as hand-written SVG; every number is printed
// with fixed precision, so the same data give the same bytes.
type chart struct {
	Title, XLabel, YLabel string
	X                     []float64
	XTicks                []string // labels at each x when set (categorical axis)
	YMin                  float64  // the y axis' origin (default 0)
	YMax                  float64  // 0: from the data
	Series                []series
}

const (
	chartW, chartH         = 720, 420
	padL, padR, padT, padB = 70, 190, 40, 50
)

// dashes tell series apart where they overlap and in grey print.
var dashes = []string{"", ` stroke-dasharray="8 4"`, ` stroke-dasharray="2 3"`, ` stroke-dasharray="10 3 2 3"`}

var palette = []string{"#222222", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"}

// svg renders the chart.
func (c chart) svg() []byte {
	var b bytes.Buffer
	xmin, xmax := c.X[0], c.X[len(c.X)-1]
	if xmax == xmin {
		xmax = xmin + 1
	}
	ymax := c.YMax
	if ymax == 0 {
		for _, s := range c.Series {
			for _, v := range s.Y {
				if !math.IsNaN(v) {
					ymax = max(ymax, v)
				}
			}
		}
		ymax = niceCeil(ymax)
	}
	pw, ph := float64(chartW-padL-padR), float64(chartH-padT-padB)
	px := func(x float64) float64 { return padL + (x-xmin)/(xmax-xmin)*pw }
	py := func(y float64) float64 { return padT + ph - (y-c.YMin)/(ymax-c.YMin)*ph }
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", chartW, chartH)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15">%s</text>`+"\n", padL, html.EscapeString(c.Title))
	ymin, lines := c.YMin, 5
	if ymin < 0 {
		lines = 4 // a line at 0 when the axis is symmetric
	}
	for i := 0; i <= lines; i++ {
		y := ymin + (ymax-ymin)*float64(i)/float64(lines)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n",
			padL, py(y), padL+pw, py(y), padL-6, py(y)+4, trim(y))
	}
	step := niceCeil((xmax - xmin) / 6)
	for i, x := range c.X {
		label := ""
		switch {
		case c.XTicks != nil:
			label = c.XTicks[i]
		case len(c.X) <= 12 || math.Mod(x, step) == 0:
			label = trim(x)
		}
		if label != "" {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", px(x), padT+ph+18, html.EscapeString(label))
		}
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/><line x1="%d" y1="%d" x2="%d" y2="%.1f" stroke="black"/>`+"\n",
		padL, padT+ph, padL+pw, padT+ph, padL, padT, padL, padT+ph)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", padL+pw/2, chartH-10, html.EscapeString(c.XLabel))
	fmt.Fprintf(&b, `<text transform="translate(16 %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", padT+ph/2, html.EscapeString(c.YLabel))
	if c.YMin < 0 {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#888"/>`+"\n", padL, py(0), padL+pw, py(0))
	}
	for si, s := range c.Series {
		color, dash := palette[si%len(palette)], dashes[si%len(dashes)]
		var pts bytes.Buffer
		for i, v := range s.Y {
			if math.IsNaN(v) {
				continue
			}
			fmt.Fprintf(&pts, "%.1f,%.1f ", px(c.X[i]), py(v))
			if c.XTicks != nil {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", px(c.X[i]), py(v), color)
			}
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n", color, dash, bytes.TrimSpace(pts.Bytes()))
		ly := padT + 10 + si*18
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="3"%s/><text x="%.1f" y="%d">%s</text>`+"\n",
			padL+pw+6, ly, padL+pw+34, ly, color, dash, padL+pw+40, ly+4, html.EscapeString(s.Name))
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// trim prints v with at most two decimals and no trailing zeros.
func trim(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	for s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	if s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}
