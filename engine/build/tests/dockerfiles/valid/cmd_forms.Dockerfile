FROM alpine
CMD ["nginx", "-g", "daemon off;"]
CMD echo $HOME
CMD []
