package ui

import (
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"

	"esmon/core/apiv1"
)

// The status colours of esmon, as the web page has them (webui/src, the
// --ok, --info, --warning-bg, --critical, --very-critical and --offline
// variables of its light theme); change both together. The dark theme's
// are below. Warning is the amber the page fills warning badges with.
var (
	ColorInfo         = color.NRGBA{R: 0x1d, G: 0x4e, B: 0xd8, A: 0xff} // #1d4ed8
	ColorWarning      = color.NRGBA{R: 0xf5, G: 0x9e, B: 0x0b, A: 0xff} // #f59e0b
	ColorCritical     = color.NRGBA{R: 0xdc, G: 0x26, B: 0x26, A: 0xff} // #dc2626
	ColorVeryCritical = color.NRGBA{R: 0xa2, G: 0x1c, B: 0xaf, A: 0xff} // #a21caf
	ColorOK           = color.NRGBA{R: 0x15, G: 0x80, B: 0x3d, A: 0xff} // #15803d
	ColorOffline      = color.NRGBA{R: 0x6b, G: 0x72, B: 0x80, A: 0xff} // #6b7280
)

// darkColors are the web page's dark-theme status colours, lighter so they
// read on a dark background.
var darkColors = map[string]color.NRGBA{
	apiv1.SeverityInfo:         {R: 0x60, G: 0xa5, B: 0xfa, A: 0xff}, // #60a5fa
	apiv1.SeverityWarning:      {R: 0xf5, G: 0x9e, B: 0x0b, A: 0xff}, // #f59e0b
	apiv1.SeverityCritical:     {R: 0xf8, G: 0x71, B: 0x71, A: 0xff}, // #f87171
	apiv1.SeverityVeryCritical: {R: 0xe8, G: 0x79, B: 0xf9, A: 0xff}, // #e879f9
	apiv1.StatusOK:             {R: 0x22, G: 0xc5, B: 0x5e, A: 0xff}, // #22c55e
	apiv1.StatusOffline:        {R: 0x8b, G: 0x95, B: 0xa3, A: 0xff}, // #8b95a3
}

// StatusColor returns the colour of a host status or an alert severity in
// the theme the console shows (light or dark, like the web page): "ok",
// "offline", or one of the apiv1 severities. Anything else is grey, so an
// unknown status never looks healthy.
func StatusColor(status string) color.NRGBA {
	variant := theme.VariantLight
	if a := fyne.CurrentApp(); a != nil {
		variant = a.Settings().ThemeVariant()
	}
	return StatusColorIn(variant, status)
}

// StatusColorIn is StatusColor in a theme variant.
func StatusColorIn(variant fyne.ThemeVariant, status string) color.NRGBA {
	if variant != theme.VariantDark {
		return LightStatusColor(status)
	}
	if c, ok := darkColors[status]; ok {
		return c
	}
	return darkColors[apiv1.StatusOffline]
}

// LightStatusColor is StatusColor in the light theme, which the tray icon
// always uses: tray panels come in every shade.
func LightStatusColor(status string) color.NRGBA {
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
		return StatusColor(apiv1.SeverityCritical)
	case percent >= 75:
		return StatusColor(apiv1.SeverityWarning)
	default:
		return StatusColor(apiv1.StatusOK)
	}
}
