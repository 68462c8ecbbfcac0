FROM alpine
CMD --interval=3s echo
