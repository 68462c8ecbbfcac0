FROM alpine IS base
