module github.com/gomsm/msm/core

go 1.26.8

require (
	github.com/bradfitz/gomemcache v0.0.0-20260422231931-4d751bb6e37c // indirect
	golang.org/x/sync v0.25.0 // indirect
)
