FROM alpine
RUN echo a \
  && echo b
COPYY a b
