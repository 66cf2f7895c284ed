//go:build !linux

package main

// widenTimerSlack does nothing where there is no prctl (see slack_linux.go).
func widenTimerSlack() {}
