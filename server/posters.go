package server

import (
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
)

// FFmpegOff, as Config.FFmpeg, turns off the posters the server makes.
const FFmpegOff = "off"

// findFFmpeg resolves Config.FFmpeg once, at startup (spec/api.md §10.6):
// "" looks ffmpeg up on PATH and makes no posters if it is not there;
// FFmpegOff makes none; anything else names the program, which must exist.
// It returns the program's path, or "" for none.
func findFFmpeg(name string, log *slog.Logger) (string, error) {
	switch name {
	case FFmpegOff:
		return "", nil
	case "":
		path, err := exec.LookPath("ffmpeg")
		if errors.Is(err, exec.ErrNotFound) {
			log.Info("no ffmpeg on PATH: the server makes no posters of videos")
			return "", nil
		}
		if err != nil {
			return "", fmt.Errorf("server: looking up ffmpeg: %w", err)
		}
		return path, nil
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("server: ffmpeg %q: %w", name, err)
	}
	return path, nil
}
