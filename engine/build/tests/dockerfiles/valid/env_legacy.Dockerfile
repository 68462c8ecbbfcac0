FROM alpine
ENV MY_NAME John Doe
ENV   PATH   /usr/local/bin:$PATH
