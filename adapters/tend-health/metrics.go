package main

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tendkit/tend/health"
)

// metrics exports a Monitor's last reports: per check status and
// duration, per profile verdict and age, and what the GPU check read (per
// device temperature, ECC counters and events, lost GPUs) and saw (XID
// counts).
type metrics struct{ m *health.Monitor }

var (
	descHealthy = prometheus.NewDesc("tend_health_healthy",
		"1 when the profile's last report is healthy and fresh.", []string{"profile"}, nil)
	descAge = prometheus.NewDesc("tend_health_report_age_seconds",
		"Age of the profile's last report.", []string{"profile"}, nil)
	descStatus = prometheus.NewDesc("tend_health_check_status",
		"1 for the check's status in the profile's last report (pass, warn, skip, fail), 0 for the others.", []string{"profile", "check", "status"}, nil)
	descDuration = prometheus.NewDesc("tend_health_check_duration_seconds",
		"How long the check took in the profile's last report.", []string{"profile", "check"}, nil)
	descTemp = prometheus.NewDesc("tend_gpu_temperature_celsius",
		"GPU temperature.", []string{"gpu", "uuid", "name"}, nil)
	descECCUnc = prometheus.NewDesc("tend_gpu_ecc_uncorrected_volatile_errors",
		"Uncorrectable ECC errors since the driver loaded.", []string{"gpu", "uuid"}, nil)
	descECCCorr = prometheus.NewDesc("tend_gpu_ecc_corrected_volatile_errors",
		"Corrected ECC errors since the driver loaded.", []string{"gpu", "uuid"}, nil)
	descECCEvents = prometheus.NewDesc("tend_gpu_ecc_events_total",
		"ECC error events seen since tend-health started.", []string{"gpu", "uuid", "type"}, nil)
	descLost = prometheus.NewDesc("tend_gpu_lost",
		"1 when the GPU has fallen off the bus.", []string{"gpu", "uuid"}, nil)
	descXID = prometheus.NewDesc("tend_gpu_xid_events_total",
		"XID events seen since tend-health started.", []string{"uuid", "xid", "class"}, nil)
)

func (c *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descHealthy, descAge, descStatus, descDuration, descTemp, descECCUnc, descECCCorr, descECCEvents, descLost, descXID} {
		ch <- d
	}
}

func (c *metrics) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	var gpu *health.Result // the newest GPU result of any profile
	var gpuAge time.Duration
	for _, p := range []health.Profile{health.ProfileLiveness, health.ProfileReadiness, health.ProfileStartup} {
		v := c.m.Verdict(p)
		gauge(descHealthy, b2f(v.Healthy), string(p))
		if v.Report == nil {
			continue
		}
		gauge(descAge, v.Age.Seconds(), string(p))
		for i, r := range v.Report.Results {
			for _, st := range []health.Status{health.StatusPass, health.StatusWarn, health.StatusSkip, health.StatusFail} {
				gauge(descStatus, b2f(r.Status == st), string(p), r.Name, st.String())
			}
			gauge(descDuration, r.Duration.Seconds(), string(p), r.Name)
			if _, ok := r.Details["devices"].([]health.GPUDevice); ok && (gpu == nil || v.Age < gpuAge) {
				gpu, gpuAge = &v.Report.Results[i], v.Age
			}
		}
	}
	if gpu == nil {
		return
	}
	devs, _ := gpu.Details["devices"].([]health.GPUDevice)
	for _, d := range devs {
		idx := strconv.Itoa(d.Index)
		if d.TemperatureC >= 0 {
			gauge(descTemp, float64(d.TemperatureC), idx, d.UUID, d.Name)
		}
		if d.ECCUncorrectedVolatile >= 0 {
			gauge(descECCUnc, float64(d.ECCUncorrectedVolatile), idx, d.UUID)
		}
		if d.ECCCorrectedVolatile >= 0 {
			gauge(descECCCorr, float64(d.ECCCorrectedVolatile), idx, d.UUID)
		}
		counter(descECCEvents, float64(d.ECCEventsSingleBit), idx, d.UUID, "single_bit")
		counter(descECCEvents, float64(d.ECCEventsDoubleBit), idx, d.UUID, "double_bit")
		gauge(descLost, b2f(d.Lost), idx, d.UUID)
	}
	xids, _ := gpu.Details["xids"].([]health.XIDCount)
	for _, x := range xids {
		counter(descXID, float64(x.Count), x.Device, strconv.FormatUint(x.XID, 10), x.Class.String())
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
