//go:build !headless && !linux && !windows

package main

// clickableNotifications: on macOS Fyne's notifications are used; clicking
// one brings the console forward.
func clickableNotifications(*console) (stop func()) { return func() {} }
