package ui

import (
	"image/color"

	"esmon/core/apiv1"
)

// The status colours of esmon. The web page uses the same values; change both
// together.
var (
	ColorInfo         = color.NRGBA{R: 0x2f, G: 0x80, B: 0xed, A: 0xff} // #2f80ed
	ColorWarning      = color.NRGBA{R: 0xf2, G: 0xa9, B: 0x00, A: 0xff} // #f2a900
	ColorCritical     = color.NRGBA{R: 0xe0, G: 0x3e, B: 0x2d, A: 0xff} // #e03e2d
	ColorVeryCritical = color.NRGBA{R: 0xa0, G: 0x12, B: 0x6b, A: 0xff} // #a0126b
	ColorOK           = color.NRGBA{R: 0x27, G: 0xae, B: 0x60, A: 0xff} // #27ae60
	ColorOffline      = color.NRGBA{R: 0x8a, G: 0x8f, B: 0x98, A: 0xff} // #8a8f98
)

// StatusColor returns the colour of a host status or an alert severity:
// "ok", "offline", or one of the apiv1 severities. Anything else is grey, so
// an unknown status never looks healthy.
func StatusColor(status string) color.NRGBA {
	switch status {
	case apiv1.StatusOK:
		return ColorOK
	case apiv1.SeverityInfo:
		return ColorInfo
	case apiv1.SeverityWarning:
		return ColorWarning
	case apiv1.SeverityCritical:
		return ColorCritical
	case apiv1.SeverityVeryCritical:
		return ColorVeryCritical
	default:
		return ColorOffline
	}
}

// severityLabel is how a severity reads in the console: "very critical"
// rather than the API's "very_critical".
func severityLabel(s string) string {
	if s == apiv1.SeverityVeryCritical {
		return "very critical"
	}
	return s
}

// gaugeColor colours a usage gauge by how full it is, with the same steps as
// the default rules' warning and critical thresholds.
func gaugeColor(percent float64) color.NRGBA {
	switch {
	case percent >= 90:
		return ColorCritical
	case percent >= 75:
		return ColorWarning
	default:
		return ColorOK
	}
}
