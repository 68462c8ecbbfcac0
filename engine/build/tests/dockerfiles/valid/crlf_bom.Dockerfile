FROM alpine
RUN echo crlf \
  continued
