FROM alpine
USER   
