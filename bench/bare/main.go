// Command bare is the ceiling the image pipeline is measured against: the
// same decode, filter, resize, label and encode of every input (package
// vision's Prepare and Labelers, exactly as the pipeline's DoFn calls them),
// in a plain loop over files, with no Beam, no sink and no Parquet.
//
//	go run ./bench/bare --config bench/configs/colorize.yaml --repeat 3 photos/*.jpg
//
// Each repetition gives every file a new key (path#rep), so seeded tasks
// draw new labels as the pipeline does for distinct inputs. It prints one
// JSON object: images labeled, seconds, images per second and the bytes of
// the rows' payload (the encoded images and labels), with the CPU seconds
// the process used (user + system), the figure to compare on a shared
// machine.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/pretext-dev/pretext/configs"
	"github.com/pretext-dev/pretext/transforms/vision"
)

type result struct {
	Images        int     `json:"images"`
	Rows          int     `json:"rows"`
	Seconds       float64 `json:"seconds"`
	CPUSeconds    float64 `json:"cpu_seconds"`
	ImagesPerS    float64 `json:"images_per_s"`
	ImagesPerCPUS float64 `json:"images_per_cpu_s"`
	OutputBytes   int64   `json:"output_bytes"`
	GOMAXPROCS    int     `json:"gomaxprocs"`
}

func main() {
	configPath := flag.String("config", "", "pretext config (image modality): its image, split and tasks sections are used")
	repeat := flag.Int("repeat", 1, "passes over the input files, each with new keys")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile here")
	flag.Parse()
	if err := run(*configPath, *repeat, *cpuProfile, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "bare:", err)
		os.Exit(1)
	}
}

func run(configPath string, repeat int, cpuProfile string, files []string) error {
	cfg, err := configs.Load(configPath)
	if err != nil {
		return err
	}
	var specs []vision.TaskSpec
	for _, name := range cfg.TaskNames() {
		js, err := cfg.TaskJSON(name)
		if err != nil {
			return err
		}
		specs = append(specs, vision.TaskSpec{Name: name, Config: js})
	}
	labelers, err := vision.NewLabelers(specs)
	if err != nil {
		return err
	}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var res result
	start, cpu0 := time.Now(), cpuSeconds()
	for rep := 0; rep < repeat; rep++ {
		for _, path := range files {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			key := fmt.Sprintf("%s#%d", path, rep)
			ex, stage, reason, _ := vision.Prepare(key, path, data, cfg.Image, cfg.Split)
			if stage != "" {
				return fmt.Errorf("%s: %s: %s", path, stage, reason)
			}
			rows, err := labelers.Label(cfg.Seed, ex)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			res.Images++
			res.Rows += len(rows)
			for _, p := range rows {
				res.OutputBytes += int64(p.Size)
			}
		}
	}
	res.Seconds = time.Since(start).Seconds()
	res.CPUSeconds = cpuSeconds() - cpu0
	res.ImagesPerS = float64(res.Images) / res.Seconds
	res.ImagesPerCPUS = float64(res.Images) / res.CPUSeconds
	res.GOMAXPROCS = runtime.GOMAXPROCS(0)
	return json.NewEncoder(os.Stdout).Encode(res)
}

// cpuSeconds is the user and system CPU time of this process so far: on a
// machine shared with other work it measures the work itself, where the wall
// clock also measures the neighbours.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
