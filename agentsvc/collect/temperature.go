package collect

import (
	"context"
	"errors"
	"strings"

	"github.com/shirou/gopsutil/v4/sensors"

	"esmon/core/wire"
)

// SensorSource reads temperature sensors.
type SensorSource interface {
	Temperatures(ctx context.Context) ([]sensors.TemperatureStat, error)
}

// Temperatures implements SensorSource.
func (System) Temperatures(ctx context.Context) ([]sensors.TemperatureStat, error) {
	return sensors.TemperaturesWithContext(ctx)
}

// Temperature collects the temperature of every sensor the operating system
// shows (label sensor). Many virtual machines show none; that is not an
// error.
type Temperature struct{ Source SensorSource }

// Name implements Collector.
func (*Temperature) Name() string { return "temperature" }

// Collect implements Collector.
func (c *Temperature) Collect(ctx context.Context, s *Sink) error {
	ts, err := c.Source.Temperatures(ctx)
	var warn *sensors.Warnings
	if errors.As(err, &warn) || err != nil && strings.Contains(err.Error(), "not implemented") {
		err = nil // some sensors unreadable, or none on this OS: report the rest
	}
	seen := map[string]bool{}
	for _, t := range ts {
		if t.SensorKey == "" || seen[t.SensorKey] || t.Temperature <= -273 {
			continue
		}
		seen[t.SensorKey] = true
		s.Add(wire.TemperatureCelsius, t.Temperature, wire.LabelSensor, t.SensorKey)
	}
	return err
}
